import { describe, expect, it } from 'vitest';
import type { ClassifiedStepError } from './errors.ts';
import {
  canTransitionStep,
  canTransitionTask,
  decideAfterFailure,
  decideTaskStatus,
  isSatisfiedStepStatus,
  isStepReady,
  isTerminalStepStatus,
  isTerminalTaskStatus,
  STEP_TRANSITIONS,
  StepStatus,
  TaskStatus,
} from './states.ts';

describe('transitions', () => {
  it('allows the documented step moves', () => {
    expect(canTransitionStep('pending', 'enqueued')).toBe(true);
    expect(canTransitionStep('enqueued', 'enqueued')).toBe(true);
    expect(canTransitionStep('in_progress', 'enqueued')).toBe(true);
    expect(canTransitionStep('waiting_retry', 'in_progress')).toBe(true);
    expect(canTransitionStep('error', 'enqueued')).toBe(true);
    expect(canTransitionStep('pending', 'in_progress')).toBe(false);
    expect(canTransitionStep('error', 'complete')).toBe(false);
  });

  it('has no way out of complete, cancelled and resolved_manually', () => {
    for (const from of ['complete', 'cancelled', 'resolved_manually'] as const) {
      expect(STEP_TRANSITIONS[from]).toEqual([]);
    }
  });

  it('has a table entry for every step status', () => {
    expect(Object.keys(STEP_TRANSITIONS).sort()).toEqual(Object.values(StepStatus).sort());
  });

  it('allows the documented task moves', () => {
    expect(canTransitionTask('pending', 'complete')).toBe(true);
    expect(canTransitionTask('error', 'in_progress')).toBe(true);
    expect(canTransitionTask('complete', 'in_progress')).toBe(false);
    expect(canTransitionTask('cancelled', 'in_progress')).toBe(false);
    expect(canTransitionTask('in_progress', 'pending')).toBe(false);
  });

  it('classifies statuses', () => {
    expect(Object.values(StepStatus).filter(isSatisfiedStepStatus)).toEqual([
      'complete',
      'resolved_manually',
    ]);
    expect(Object.values(StepStatus).filter(isTerminalStepStatus)).toEqual([
      'complete',
      'error',
      'cancelled',
      'resolved_manually',
    ]);
    expect(Object.values(TaskStatus).filter(isTerminalTaskStatus)).toEqual([
      'complete',
      'error',
      'cancelled',
    ]);
  });
});

describe('isStepReady', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const step = { status: 'pending' as StepStatus, attempts: 0, max_attempts: 3, next_attempt_at: null };
  const running = { status: 'in_progress' as TaskStatus };
  const done = [{ status: 'complete' as StepStatus }, { status: 'resolved_manually' as StepStatus }];

  it('is ready when parents are satisfied and nothing holds it back', () => {
    expect(isStepReady(step, done, running, now)).toBe(true);
    expect(isStepReady(step, [], { status: 'pending' }, now)).toBe(true);
  });

  it('waits for every parent', () => {
    expect(isStepReady(step, [...done, { status: 'in_progress' }], running, now)).toBe(false);
    expect(isStepReady(step, [{ status: 'error' }], running, now)).toBe(false);
  });

  it('waits for the backoff to elapse', () => {
    const retrying = { ...step, status: 'waiting_retry' as StepStatus, attempts: 1 };
    expect(
      isStepReady({ ...retrying, next_attempt_at: new Date(now.getTime() + 1) }, done, running, now),
    ).toBe(false);
    expect(isStepReady({ ...retrying, next_attempt_at: now }, done, running, now)).toBe(true);
  });

  it('is not ready without attempts left, in a finished task, or in a non-dispatchable status', () => {
    expect(isStepReady({ ...step, attempts: 3 }, done, running, now)).toBe(false);
    expect(isStepReady(step, done, { status: 'cancelled' }, now)).toBe(false);
    expect(isStepReady(step, done, { status: 'complete' }, now)).toBe(false);
    for (const status of ['in_progress', 'complete', 'error', 'cancelled', 'resolved_manually'] as const) {
      expect(isStepReady({ ...step, status }, done, running, now)).toBe(false);
    }
    expect(isStepReady({ ...step, status: 'enqueued' }, done, running, now)).toBe(true);
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
    expect(decideTaskStatus({ total: 5, satisfied: 5, inFlight: 0 })).toBe('complete');
  });

  it('keeps running while a sibling branch is still in flight after a failure', () => {
    // create complete, billing error, prefs in progress (or waiting for a retry, or enqueued)
    expect(decideTaskStatus({ total: 5, satisfied: 1, inFlight: 1 })).toBeNull();
  });

  it('is in error once nothing is in flight and some steps can never run', () => {
    // create complete, billing error, prefs complete: welcome and status are blocked
    expect(decideTaskStatus({ total: 5, satisfied: 2, inFlight: 0 })).toBe('error');
    // create failed: nothing else can start
    expect(decideTaskStatus({ total: 5, satisfied: 0, inFlight: 0 })).toBe('error');
  });

  it('is still running while work is in flight and nothing failed', () => {
    expect(decideTaskStatus({ total: 5, satisfied: 3, inFlight: 1 })).toBeNull();
  });
});
