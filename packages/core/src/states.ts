/**
 * Step and task states: the one declaration of every state and every transition the engine or
 * an operator makes (each with when it happens), the status groups the SQL uses, all derived
 * from that declaration, and the pure decisions built on them: what follows a failed attempt, is
 * the task finished. docs/ARCHITECTURE.md's state diagrams are generated from it
 * (stateDiagramMermaid); tests check the SQL's status literals and every audit row against it.
 */
import { computeRetryDelayMs } from './backoff.ts';
import type { ClassifiedStepError } from './errors.ts';
import type { RetryPolicy } from './template-schema.ts';

/** One allowed move; `from: null` is the creation of the row (`[*]` in the diagrams). */
export type StateTransition<S extends string> = { from: S | null; to: S; when: string };

/** A state machine: its states in display order and every allowed transition. */
export type StateMachine<S extends string> = {
  states: readonly S[];
  transitions: readonly StateTransition<S>[];
};

/** The same move from several states. */
function moves<S extends string>(from: readonly (S | null)[], to: S, when: string): StateTransition<S>[] {
  return from.map((f) => ({ from: f, to, when }));
}

/**
 * States of a workflow step (Tasker's names), each with its phase: `waiting` for a parent,
 * `in_flight` (the task can still make progress through it), or finished (`satisfied`: its
 * dependents may proceed; `failed`: an operator may retry it; `cancelled`; `skipped`: a decision
 * did not choose it, or it sits behind a step that was skipped, and it will never run).
 */
const STEP_PHASES = {
  pending: 'waiting',
  enqueued: 'in_flight',
  /** Ready, but not dispatched: its service's breaker is open, a Retry-After holds it, or its limit is reached. */
  held: 'in_flight',
  in_progress: 'in_flight',
  waiting_retry: 'in_flight',
  complete: 'satisfied',
  error: 'failed',
  cancelled: 'cancelled',
  resolved_manually: 'satisfied',
  skipped: 'skipped',
} as const;
export type StepStatus = keyof typeof STEP_PHASES;

/** States of a task: `running` until finalized, then finished. */
const TASK_PHASES = {
  pending: 'running',
  in_progress: 'running',
  complete: 'complete',
  error: 'failed',
  cancelled: 'cancelled',
} as const;
export type TaskStatus = keyof typeof TASK_PHASES;

/**
 * Every step transition the code makes (packages/db), and when. `error → held` happens inside
 * the transaction of the failure that set `error` (the attempt is given back), so no one ever
 * sees the step in `error` then; the scheduler's re-dispatch of a lost job changes no status.
 */
export const STEP_MACHINE: StateMachine<StepStatus> = {
  states: Object.keys(STEP_PHASES) as StepStatus[],
  transitions: [
    { from: null, to: 'pending', when: 'created with parents' },
    { from: null, to: 'enqueued', when: 'created without parents' },
    {
      from: 'pending',
      to: 'enqueued',
      when: 'last parent complete or resolved (a deferred join: the rest skipped, one satisfied)',
    },
    { from: 'enqueued', to: 'in_progress', when: 'claimed (attempt N)' },
    { from: 'waiting_retry', to: 'in_progress', when: 'claimed once its backoff elapsed' },
    {
      from: 'enqueued',
      to: 'held',
      when: 'delivered while its breaker blocks or its system is at its concurrency or rate limit (no attempt used)',
    },
    {
      from: 'waiting_retry',
      to: 'held',
      when: 'delivered while its breaker blocks or its system is at its limit, or failed while the breaker is not closed (attempt given back)',
    },
    {
      from: 'error',
      to: 'held',
      when: 'last attempt failed while the breaker is not closed (attempt given back)',
    },
    {
      from: 'held',
      to: 'enqueued',
      when: 'released as a half-open probe, on the ramp after close, or when its limit frees a slot or a token',
    },
    { from: 'in_progress', to: 'complete', when: 'success' },
    { from: 'pending', to: 'complete', when: 'batch plan with no batches (the worker does not run)' },
    { from: 'in_progress', to: 'waiting_retry', when: 'retryable error or timeout, attempts left' },
    {
      from: 'in_progress',
      to: 'error',
      when: 'permanent error, attempts exhausted, aborted, or lease expired on the last attempt',
    },
    {
      from: 'in_progress',
      to: 'enqueued',
      when: 'lease expired with attempts left, or handed back at shutdown',
    },
    { from: 'error', to: 'enqueued', when: 'operator retry (fresh attempts)' },
    ...moves<StepStatus>(
      ['pending', 'enqueued', 'held', 'waiting_retry', 'in_progress'],
      'cancelled',
      'task cancelled',
    ),
    ...moves<StepStatus>(
      ['pending', 'enqueued', 'held', 'waiting_retry', 'error'],
      'resolved_manually',
      'operator resolve',
    ),
    {
      from: 'pending',
      to: 'skipped',
      when: 'not chosen by a decision, or a parent was skipped and it cannot run any more',
    },
  ],
};

/**
 * Every task transition the code makes, and when. Finalization takes a running task (pending or
 * in_progress) to complete or error; in practice a task is in_progress before any of its steps
 * can fail, but the finalization statement accepts both.
 */
export const TASK_MACHINE: StateMachine<TaskStatus> = {
  states: Object.keys(TASK_PHASES) as TaskStatus[],
  transitions: [
    { from: null, to: 'pending', when: 'created' },
    { from: 'pending', to: 'in_progress', when: 'first step claimed' },
    ...moves<TaskStatus>(['pending', 'in_progress'], 'complete', 'every step complete, resolved or skipped'),
    ...moves<TaskStatus>(['pending', 'in_progress'], 'error', 'blocked by failures, nothing in flight'),
    { from: 'error', to: 'in_progress', when: 'operator retry or resolve of a step' },
    ...moves<TaskStatus>(['pending', 'in_progress', 'error'], 'cancelled', 'operator cancel'),
  ],
};

/** Every step status, in display order. */
export const STEP_STATUSES: readonly StepStatus[] = STEP_MACHINE.states;
/** Every task status, in display order. */
export const TASK_STATUSES: readonly TaskStatus[] = TASK_MACHINE.states;

function withPhase<S extends string>(phases: Record<S, string>, ...wanted: string[]): readonly S[] {
  return (Object.keys(phases) as S[]).filter((status) => wanted.includes(phases[status]));
}

/** The states with a transition into `to` (creation excluded). */
function sourcesOf<S extends string>(machine: StateMachine<S>, to: S): readonly S[] {
  const from = new Set(machine.transitions.filter((t) => t.to === to).map((t) => t.from));
  return machine.states.filter((status) => from.has(status));
}

/** The states with no transition out at all. */
function finalStates<S extends string>(machine: StateMachine<S>): readonly S[] {
  return machine.states.filter((status) => !machine.transitions.some((t) => t.from === status));
}

// The status groups. Every literal status list in packages/db's and packages/engine's SQL is
// one of these (packages/db/test/state-sql.test.ts checks it).

/** Claimable: a delivery may start an attempt from these (the claim's `from`). */
export const STEP_CLAIMABLE = sourcesOf(STEP_MACHINE, 'in_progress');
/** In flight: the task can still make progress through these steps (finalization counts them). */
export const STEP_IN_FLIGHT = withPhase(STEP_PHASES, 'in_flight');
/** Satisfied: the step's dependents may proceed. */
export const STEP_SATISFIED = withPhase(STEP_PHASES, 'satisfied');
/** Terminal: nothing automatic moves the step again (an operator may still retry `error`). */
export const STEP_TERMINAL = withPhase(STEP_PHASES, 'satisfied', 'failed', 'cancelled', 'skipped');
/** Settled: the step will never hold a deferred join back again (satisfied or skipped). */
export const STEP_SETTLED = withPhase(STEP_PHASES, 'satisfied', 'skipped');
/** Final: nothing moves the step again, not even an operator. */
export const STEP_FINAL = finalStates(STEP_MACHINE);
/** Cancelling the task cancels its steps in these states. */
export const STEP_CANCELLABLE = sourcesOf(STEP_MACHINE, 'cancelled');
/** An operator may resolve a step in these states. */
export const STEP_RESOLVABLE = sourcesOf(STEP_MACHINE, 'resolved_manually');
/** A step released from `held` (as a probe) is in these states until its attempt ends. */
export const STEP_RELEASED: readonly StepStatus[] = [
  ...STEP_MACHINE.transitions
    .filter((t) => t.from === 'held' && STEP_PHASES[t.to] === 'in_flight')
    .map((t) => t.to),
  'in_progress',
];
/** The steps the breaker's release sweep looks at: held ones and released ones not finished. */
export const STEP_HELD_OR_RELEASED: readonly StepStatus[] = ['held', ...STEP_RELEASED];

/** Running: finalization may still move the task (a claim may start it). */
export const TASK_RUNNING = withPhase(TASK_PHASES, 'running');
/** Terminal: nothing automatic moves the task again (an operator may retry in an `error` task). */
export const TASK_TERMINAL = withPhase(TASK_PHASES, 'complete', 'failed', 'cancelled');
/** Final: nothing moves the task again. */
export const TASK_FINAL = finalStates(TASK_MACHINE);
/** An operator may cancel a task in these states. */
export const TASK_CANCELLABLE = sourcesOf(TASK_MACHINE, 'cancelled');

/** The step groups by name. */
export const STEP_STATUS_GROUPS: Readonly<Record<string, readonly StepStatus[]>> = {
  STEP_CLAIMABLE,
  STEP_IN_FLIGHT,
  STEP_SATISFIED,
  STEP_TERMINAL,
  STEP_SETTLED,
  STEP_FINAL,
  STEP_CANCELLABLE,
  STEP_RESOLVABLE,
  STEP_RELEASED,
  STEP_HELD_OR_RELEASED,
};

/** The task groups by name. */
export const TASK_STATUS_GROUPS: Readonly<Record<string, readonly TaskStatus[]>> = {
  TASK_RUNNING,
  TASK_TERMINAL,
  TASK_FINAL,
  TASK_CANCELLABLE,
};

/** Whether the machine declares the move `from → to` (`from: null`: creation in `to`). */
function allows<S extends string>(machine: StateMachine<S>, from: S | null, to: S): boolean {
  return machine.transitions.some((t) => t.from === from && t.to === to);
}

/** Whether a step may move from `from` to `to` (`from: null`: created in `to`). */
export function canTransitionStep(from: StepStatus | null, to: StepStatus): boolean {
  return allows(STEP_MACHINE, from, to);
}

/** Whether a task may move from `from` to `to` (`from: null`: created in `to`). */
export function canTransitionTask(from: TaskStatus | null, to: TaskStatus): boolean {
  return allows(TASK_MACHINE, from, to);
}

/** Whether nothing automatic will move the step again: complete, error, cancelled, resolved_manually, skipped. */
export function isTerminalStepStatus(status: StepStatus): boolean {
  return STEP_TERMINAL.includes(status);
}

/** Whether the step's dependents may proceed: complete or resolved_manually. */
export function isSatisfiedStepStatus(status: StepStatus): boolean {
  return STEP_SATISFIED.includes(status);
}

/** Whether nothing automatic will move the task again: complete, error, cancelled (an operator may retry in `error`). */
export function isTerminalTaskStatus(status: TaskStatus): boolean {
  return TASK_TERMINAL.includes(status);
}

/**
 * The machine as a mermaid `stateDiagram-v2` (the text inside the fenced block): one line per
 * transition with its `when`, creation as `[*] --> state`, and `state --> [*]` for final states.
 */
export function stateDiagramMermaid<S extends string>(machine: StateMachine<S>): string {
  const lines = ['stateDiagram-v2'];
  for (const t of machine.transitions) lines.push(`  ${t.from ?? '[*]'} --> ${t.to}: ${t.when}`);
  for (const status of finalStates(machine)) lines.push(`  ${status} --> [*]`);
  return lines.join('\n');
}

/** Input of {@link decideAfterFailure}. */
export type FailureInput = {
  /** The attempt that failed, 1-based. */
  attempt: number;
  maxAttempts: number;
  error: ClassifiedStepError;
  policy: RetryPolicy;
  /** Jitter source in [0, 1); default `Math.random`. */
  random?: () => number;
};

/** What follows a failed attempt. */
export type FailureDecision =
  | { status: 'waiting_retry'; delayMs: number }
  | { status: 'error'; reason: 'permanent_error' | 'attempts_exhausted' };

/**
 * Decides what a failed attempt leads to. A permanent error fails the step at once, whatever
 * attempts remain (Tasker retried them; we must not). Retryable errors and timeouts retry while
 * `attempt < maxAttempts`, after computeRetryDelayMs (honouring the error's retry-after).
 */
export function decideAfterFailure(input: FailureInput): FailureDecision {
  const { attempt, maxAttempts, error, policy, random } = input;
  if (error.outcome === 'permanent_error') return { status: 'error', reason: 'permanent_error' };
  if (attempt >= maxAttempts) return { status: 'error', reason: 'attempts_exhausted' };
  const delayMs = computeRetryDelayMs(policy, attempt, {
    retryAfterMs: error.retryAfterMs,
    ...(random ? { random } : {}),
  });
  return { status: 'waiting_retry', delayMs };
}

/** How many of a task's steps are in each group that finalization cares about. */
export type TaskStepCounts = {
  total: number;
  /** complete or resolved_manually: dependents may proceed. */
  satisfied: number;
  /** skipped: never runs, and does not hold the task back. */
  skipped: number;
  /** enqueued, held, in_progress or waiting_retry: the task can still make progress. */
  inFlight: number;
};

/**
 * The status a running task should now take, or null while it can still make progress.
 * - `complete`: every step is complete, resolved_manually or skipped.
 * - `error` (blocked by failures): nothing is in flight and not every step is satisfied or skipped.
 *
 * This relies on an invariant the engine keeps: a step is `pending` only while one of its
 * parents is unfinished, because it turns `enqueued` (or `skipped`) in the same transaction as
 * its last parent's completion (or skip). So once nothing is in flight, every pending step sits behind a failed
 * step and can never run. Sibling branches that do not depend on the failure are in flight
 * until they end, so they run to completion first and an operator retry redoes only what failed.
 */
export function decideTaskStatus(counts: TaskStepCounts): 'complete' | 'error' | null {
  if (counts.satisfied + counts.skipped === counts.total) return 'complete';
  if (counts.inFlight === 0) return 'error';
  return null;
}
