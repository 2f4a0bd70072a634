import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ClassifiedStepError } from './errors.ts';
import { HOLD_POINTS } from './holds.ts';
import {
  canTransitionStep,
  canTransitionTask,
  decideAfterFailure,
  decideTaskStatus,
  type FailureDecision,
  isSatisfiedStepStatus,
  isTerminalStepStatus,
  isTerminalTaskStatus,
  STEP_CANCELLABLE,
  STEP_CLAIMABLE,
  STEP_FINAL,
  STEP_HELD_OR_RELEASED,
  STEP_IN_FLIGHT,
  STEP_MACHINE,
  STEP_RELEASED,
  STEP_RESOLVABLE,
  STEP_SATISFIED,
  STEP_STATUSES,
  STEP_TERMINAL,
  type StateMachine,
  stateDiagramMermaid,
  TASK_CANCELLABLE,
  TASK_FINAL,
  TASK_MACHINE,
  TASK_RUNNING,
  TASK_STATUSES,
  TASK_TERMINAL,
} from './states.ts';

describe('the step machine', () => {
  it('allows the moves the engine and operators make', () => {
    expect(canTransitionStep(null, 'pending')).toBe(true);
    expect(canTransitionStep(null, 'enqueued')).toBe(true);
    expect(canTransitionStep('pending', 'enqueued')).toBe(true);
    expect(canTransitionStep('in_progress', 'enqueued')).toBe(true);
    expect(canTransitionStep('waiting_retry', 'in_progress')).toBe(true);
    expect(canTransitionStep('error', 'enqueued')).toBe(true);
    // An exhausted retryable failure while the breaker is not closed is held, not failed.
    expect(canTransitionStep('error', 'held')).toBe(true);
  });

  it('refuses moves the code never makes', () => {
    expect(canTransitionStep(null, 'in_progress')).toBe(false);
    expect(canTransitionStep('pending', 'in_progress')).toBe(false);
    expect(canTransitionStep('error', 'complete')).toBe(false);
    expect(canTransitionStep('error', 'cancelled')).toBe(false);
    // A failure goes to waiting_retry or error first; the hold follows in the same transaction.
    expect(canTransitionStep('in_progress', 'held')).toBe(false);
    // Re-dispatching a lost job or a due retry changes no status.
    expect(canTransitionStep('enqueued', 'enqueued')).toBe(false);
    expect(canTransitionStep('waiting_retry', 'enqueued')).toBe(false);
  });

  it('declares each move once, between declared states, with when it happens', () => {
    expectWellFormed(STEP_MACHINE);
  });

  it('has no way out of complete, cancelled, resolved_manually and skipped', () => {
    expect(STEP_FINAL).toEqual(['complete', 'cancelled', 'resolved_manually', 'skipped']);
  });

  it('holds a step only from statuses the machine allows to move to held', () => {
    expect(HOLD_POINTS.before_claim.from).toEqual(STEP_CLAIMABLE);
    for (const { from } of Object.values(HOLD_POINTS)) {
      for (const status of from) expect(canTransitionStep(status, 'held'), status).toBe(true);
    }
    // After a failure the step is where decideAfterFailure took it (FailureDecision's statuses).
    const decided: FailureDecision['status'][] = ['waiting_retry', 'error'];
    expect(HOLD_POINTS.after_failure.from).toEqual(decided);
    for (const status of decided) expect(canTransitionStep('in_progress', status)).toBe(true);
  });
});

describe('the task machine', () => {
  it('allows the moves the engine and operators make', () => {
    expect(canTransitionTask(null, 'pending')).toBe(true);
    expect(canTransitionTask('pending', 'complete')).toBe(true);
    expect(canTransitionTask('error', 'in_progress')).toBe(true);
    expect(canTransitionTask('error', 'cancelled')).toBe(true);
    expect(canTransitionTask('complete', 'in_progress')).toBe(false);
    expect(canTransitionTask('cancelled', 'in_progress')).toBe(false);
    expect(canTransitionTask('in_progress', 'pending')).toBe(false);
    expect(canTransitionTask('error', 'complete')).toBe(false);
  });

  it('declares each move once, between declared states, with when it happens', () => {
    expectWellFormed(TASK_MACHINE);
  });
});

function expectWellFormed<S extends string>(machine: StateMachine<S>): void {
  const pairs = machine.transitions.map((t) => `${t.from ?? '[*]'} -> ${t.to}`);
  expect(new Set(pairs).size).toBe(pairs.length);
  for (const t of machine.transitions) {
    if (t.from !== null) expect(machine.states).toContain(t.from);
    expect(machine.states).toContain(t.to);
    expect(t.when.trim()).not.toBe('');
    // Mermaid ends a statement at a semicolon and reads # as an entity.
    expect(t.when).not.toMatch(/[;#]/);
  }
  // Every state can be reached from creation.
  const reached = new Set<S>();
  let frontier: (S | null)[] = [null];
  while (frontier.length > 0) {
    const next = machine.transitions
      .filter((t) => frontier.includes(t.from) && !reached.has(t.to))
      .map((t) => t.to);
    for (const status of next) reached.add(status);
    frontier = next;
  }
  expect([...reached].sort()).toEqual([...machine.states].sort());
}

describe('status groups', () => {
  it('are derived from the declaration', () => {
    expect(STEP_STATUSES).toEqual([
      'pending',
      'enqueued',
      'held',
      'in_progress',
      'waiting_retry',
      'complete',
      'error',
      'cancelled',
      'resolved_manually',
      'skipped',
    ]);
    expect(STEP_CLAIMABLE).toEqual(['enqueued', 'waiting_retry']);
    expect(STEP_IN_FLIGHT).toEqual(['enqueued', 'held', 'in_progress', 'waiting_retry']);
    expect(STEP_SATISFIED).toEqual(['complete', 'resolved_manually']);
    expect(STEP_TERMINAL).toEqual(['complete', 'error', 'cancelled', 'resolved_manually', 'skipped']);
    expect(STEP_CANCELLABLE).toEqual(['pending', 'enqueued', 'held', 'in_progress', 'waiting_retry']);
    expect(STEP_RESOLVABLE).toEqual(['pending', 'enqueued', 'held', 'waiting_retry', 'error']);
    expect(STEP_RELEASED).toEqual(['enqueued', 'in_progress']);
    expect(STEP_HELD_OR_RELEASED).toEqual(['held', 'enqueued', 'in_progress']);
    expect(TASK_STATUSES).toEqual(['pending', 'in_progress', 'complete', 'error', 'cancelled']);
    expect(TASK_RUNNING).toEqual(['pending', 'in_progress']);
    expect(TASK_TERMINAL).toEqual(['complete', 'error', 'cancelled']);
    expect(TASK_FINAL).toEqual(['complete', 'cancelled']);
    expect(TASK_CANCELLABLE).toEqual(['pending', 'in_progress', 'error']);
  });

  it('agree with each other', () => {
    // Every step is waiting for a parent, in flight, or terminal, and exactly one of them.
    expect([...STEP_IN_FLIGHT, ...STEP_TERMINAL, 'pending'].sort()).toEqual([...STEP_STATUSES].sort());
    // Cancelling takes every step that is not terminal.
    expect(STEP_CANCELLABLE).toEqual(STEP_STATUSES.filter((s) => !isTerminalStepStatus(s)));
    // A task runs while finalization may move it: the sources of complete.
    expect(TASK_RUNNING).toEqual(
      TASK_STATUSES.filter((s) => canTransitionTask(s, 'complete') && canTransitionTask(s, 'error')),
    );
  });

  it('classifies statuses', () => {
    expect(STEP_STATUSES.filter(isSatisfiedStepStatus)).toEqual(['complete', 'resolved_manually']);
    expect(STEP_STATUSES.filter(isTerminalStepStatus)).toEqual([
      'complete',
      'error',
      'cancelled',
      'resolved_manually',
      'skipped',
    ]);
    expect(TASK_STATUSES.filter(isTerminalTaskStatus)).toEqual(['complete', 'error', 'cancelled']);
  });
});

describe('docs/ARCHITECTURE.md', () => {
  const doc = readFileSync(new URL('../../../docs/ARCHITECTURE.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Step and task states'));
  const blocks = [...section.slice(0, section.indexOf('\n## ', 1)).matchAll(/```mermaid\n([\s\S]*?)\n```/g)];

  it.each([
    ['step', 0, STEP_MACHINE],
    ['task', 1, TASK_MACHINE],
  ] as const)('draws the %s states as declared', (_name, index, machine) => {
    const expected = stateDiagramMermaid<string>(machine);
    const actual = blocks[index]?.[1];
    if (actual !== expected) {
      throw new Error(
        `The ${_name} diagram in docs/ARCHITECTURE.md ("Step and task states", mermaid block ${index + 1}) ` +
          `differs from packages/core/src/states.ts. Replace the block with:\n\n\`\`\`mermaid\n${expected}\n\`\`\`\n`,
      );
    }
  });
});

describe('decideAfterFailure', () => {
  const policy = { max_attempts: 5, backoff_base_ms: 1000, backoff_cap_ms: 60_000, jitter: false };
  const failure = (
    outcome: ClassifiedStepError['outcome'],
    retryAfterMs: number | null = null,
  ): ClassifiedStepError => ({
    outcome,
    errorClass: 'X',
    errorCode: null,
    message: 'x',
    httpStatus: null,
    retryAfterMs,
  });

  it('never retries a permanent error, even on attempt 1 of 5', () => {
    expect(
      decideAfterFailure({ attempt: 1, maxAttempts: 5, error: failure('permanent_error'), policy }),
    ).toEqual({
      status: 'error',
      reason: 'permanent_error',
    });
  });

  it('retries retryable errors and timeouts with backoff while attempts remain', () => {
    expect(
      decideAfterFailure({ attempt: 1, maxAttempts: 5, error: failure('retryable_error'), policy }),
    ).toEqual({
      status: 'waiting_retry',
      delayMs: 1000,
    });
    expect(decideAfterFailure({ attempt: 3, maxAttempts: 5, error: failure('timeout'), policy })).toEqual({
      status: 'waiting_retry',
      delayMs: 4000,
    });
  });

  it('honours retry-after and the injected random source', () => {
    const error = failure('retryable_error', 20_000);
    expect(decideAfterFailure({ attempt: 1, maxAttempts: 5, error, policy })).toEqual({
      status: 'waiting_retry',
      delayMs: 20_000,
    });
    const jitter = { ...policy, jitter: true };
    const decision = decideAfterFailure({
      attempt: 2,
      maxAttempts: 5,
      error: failure('timeout'),
      policy: jitter,
      random: () => 0.5,
    });
    expect(decision).toEqual({ status: 'waiting_retry', delayMs: 1000 });
  });

  it('fails the step when the last attempt fails', () => {
    expect(
      decideAfterFailure({ attempt: 5, maxAttempts: 5, error: failure('retryable_error'), policy }),
    ).toEqual({
      status: 'error',
      reason: 'attempts_exhausted',
    });
  });
});

describe('decideTaskStatus', () => {
  // The registration diamond has 5 steps: create ─► billing, prefs ─► welcome ─► status.
  it('is complete when every step is complete or resolved manually', () => {
    expect(decideTaskStatus({ total: 5, satisfied: 5, skipped: 0, inFlight: 0 })).toBe('complete');
  });

  it('keeps running while a sibling branch is still in flight after a failure', () => {
    // create complete, billing error, prefs in progress (or waiting for a retry, or enqueued)
    expect(decideTaskStatus({ total: 5, satisfied: 1, skipped: 0, inFlight: 1 })).toBeNull();
  });

  it('is in error once nothing is in flight and some steps can never run', () => {
    // create complete, billing error, prefs complete: welcome and status are blocked
    expect(decideTaskStatus({ total: 5, satisfied: 2, skipped: 0, inFlight: 0 })).toBe('error');
    // create failed: nothing else can start
    expect(decideTaskStatus({ total: 5, satisfied: 0, skipped: 0, inFlight: 0 })).toBe('error');
  });

  it('counts skipped steps as done: complete when the rest is satisfied, in error when blocked', () => {
    // A decision chose one of two branches: the other branch and its tail are skipped.
    expect(decideTaskStatus({ total: 6, satisfied: 4, skipped: 2, inFlight: 0 })).toBe('complete');
    expect(decideTaskStatus({ total: 6, satisfied: 3, skipped: 2, inFlight: 0 })).toBe('error');
    expect(decideTaskStatus({ total: 6, satisfied: 3, skipped: 2, inFlight: 1 })).toBeNull();
  });

  it('is still running while work is in flight and nothing failed', () => {
    expect(decideTaskStatus({ total: 5, satisfied: 3, skipped: 0, inFlight: 1 })).toBeNull();
  });
});
