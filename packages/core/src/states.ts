/**
 * Step and task states, their allowed transitions, and the pure decisions built on them:
 * is a step ready, what follows a failed attempt, is the task finished.
 */
import { computeRetryDelayMs } from './backoff.ts';
import type { ClassifiedStepError } from './errors.ts';
import type { RetryPolicy } from './template-schema.ts';

/** States of a workflow step (Tasker's names). */
export const StepStatus = {
  PENDING: 'pending',
  ENQUEUED: 'enqueued',
  /** Ready, but not dispatched: its service's breaker is open or a Retry-After holds it. */
  HELD: 'held',
  IN_PROGRESS: 'in_progress',
  WAITING_RETRY: 'waiting_retry',
  COMPLETE: 'complete',
  ERROR: 'error',
  CANCELLED: 'cancelled',
  RESOLVED_MANUALLY: 'resolved_manually',
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** States of a task. */
export const TaskStatus = {
  PENDING: 'pending',
  IN_PROGRESS: 'in_progress',
  COMPLETE: 'complete',
  ERROR: 'error',
  CANCELLED: 'cancelled',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/**
 * Allowed step transitions. `enqueued → enqueued` re-dispatches a lost job; `in_progress → enqueued`
 * is a lost lease or a released claim; `error → enqueued` is an operator retry.
 */
export const STEP_TRANSITIONS: Readonly<Record<StepStatus, readonly StepStatus[]>> = {
  pending: ['enqueued', 'cancelled', 'resolved_manually'],
  enqueued: ['in_progress', 'held', 'cancelled', 'resolved_manually', 'enqueued'],
  held: ['enqueued', 'cancelled', 'resolved_manually'],
  in_progress: ['complete', 'waiting_retry', 'held', 'error', 'enqueued', 'cancelled'],
  waiting_retry: ['enqueued', 'in_progress', 'held', 'cancelled', 'resolved_manually'],
  error: ['enqueued', 'resolved_manually'],
  complete: [],
  cancelled: [],
  resolved_manually: [],
};

/** Allowed task transitions; `error → in_progress` is an operator retry. */
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  pending: ['in_progress', 'complete', 'error', 'cancelled'],
  in_progress: ['complete', 'error', 'cancelled'],
  error: ['in_progress'],
  complete: [],
  cancelled: [],
};

/** Whether a step may move from `from` to `to`. */
export function canTransitionStep(from: StepStatus, to: StepStatus): boolean {
  return STEP_TRANSITIONS[from].includes(to);
}

/** Whether a task may move from `from` to `to`. */
export function canTransitionTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

const TERMINAL_STEP: ReadonlySet<StepStatus> = new Set([
  'complete',
  'error',
  'cancelled',
  'resolved_manually',
]);
const SATISFIED_STEP: ReadonlySet<StepStatus> = new Set(['complete', 'resolved_manually']);
const TERMINAL_TASK: ReadonlySet<TaskStatus> = new Set(['complete', 'error', 'cancelled']);

/**
 * Whether nothing automatic will move the step again: complete, error, cancelled, resolved_manually
 * (as in Tasker; an operator may still retry an `error` step).
 */
export function isTerminalStepStatus(status: StepStatus): boolean {
  return TERMINAL_STEP.has(status);
}

/** Whether the step's dependents may proceed: complete or resolved_manually. */
export function isSatisfiedStepStatus(status: StepStatus): boolean {
  return SATISFIED_STEP.has(status);
}

/** Whether nothing automatic will move the task again: complete, error, cancelled (an operator may retry `error`). */
export function isTerminalTaskStatus(status: TaskStatus): boolean {
  return TERMINAL_TASK.has(status);
}

/** The step fields readiness depends on. */
export type ReadinessStep = {
  status: StepStatus;
  attempts: number;
  max_attempts: number;
  next_attempt_at: Date | null;
};

/**
 * Whether a step may be dispatched now: it is pending, waiting_retry or enqueued (a re-dispatch);
 * every parent is complete or resolved_manually; attempts remain; its backoff has elapsed; and
 * its task is neither cancelled nor complete.
 */
export function isStepReady(
  step: ReadinessStep,
  parents: readonly { status: StepStatus }[],
  task: { status: TaskStatus },
  now: Date,
): boolean {
  if (task.status === 'cancelled' || task.status === 'complete') return false;
  if (step.status !== 'pending' && step.status !== 'waiting_retry' && step.status !== 'enqueued')
    return false;
  if (step.attempts >= step.max_attempts) return false;
  if (step.next_attempt_at !== null && step.next_attempt_at.getTime() > now.getTime()) return false;
  return parents.every((parent) => isSatisfiedStepStatus(parent.status));
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
  /** enqueued, held, in_progress or waiting_retry: the task can still make progress. */
  inFlight: number;
};

/**
 * The status a running task should now take, or null while it can still make progress.
 * - `complete`: every step is complete or resolved_manually.
 * - `error` (blocked by failures): nothing is in flight and not every step is satisfied.
 *
 * This relies on an invariant the engine keeps: a step is `pending` only while one of its
 * parents is unfinished, because it turns `enqueued` in the same transaction as its last
 * parent's completion. So once nothing is in flight, every pending step sits behind a failed
 * step and can never run. Sibling branches that do not depend on the failure are in flight
 * until they end, so they run to completion first and an operator retry redoes only what failed.
 */
export function decideTaskStatus(counts: TaskStepCounts): 'complete' | 'error' | null {
  if (counts.satisfied === counts.total) return 'complete';
  if (counts.inFlight === 0) return 'error';
  return null;
}
