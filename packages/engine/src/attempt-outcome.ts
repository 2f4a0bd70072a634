/**
 * What an attempt's outcome becomes: a failure classified and decided (retry or not), the domain
 * events it publishes as event-log rows, and the log line that says what happened.
 */
import {
  classifyStepError,
  countedAttempts,
  type DomainEvent,
  decideAfterFailure,
  eventsToPublish,
} from '@switchyard/core';
import type {
  AttemptFailure,
  ClaimedStep,
  EventToCommit,
  FailureEvents,
  OutcomeResult,
} from '@switchyard/db';
import type { Logger } from 'pino';
import { ClaimLostError } from './run-handler.ts';

/** The step's domain events as rows of the event log. */
export function toCommit(step: ClaimedStep, events: DomainEvent[]): EventToCommit[] {
  return events.map((event) => ({
    type: event.name,
    namespace: step.namespace,
    correlationId: step.correlationId,
    data: { task_id: step.taskId, step: step.name, attempt: step.attempt, payload: event.payload },
  }));
}

/**
 * The events a failed attempt publishes, for either end (see FailureEvents). An aborted attempt
 * (cancelled task, lost claim) publishes none: it did not fail, it was stopped. A payload its
 * schema refuses is left out and logged: the failure itself is still recorded.
 */
export function failureEvents(
  step: ClaimedStep,
  failure: AttemptFailure,
  published: ReadonlyMap<string, unknown>,
  log: Logger,
): FailureEvents {
  if (failure.outcome === 'aborted' || step.publishes.length === 0) return { ifFinal: [], otherwise: [] };
  const error = {
    error: {
      outcome: failure.outcome,
      class: failure.errorClass,
      code: failure.errorCode,
      message: failure.message,
    },
  };
  const forEnd = (final: boolean) => {
    try {
      return toCommit(step, eventsToPublish(step.publishes, { ok: false, final }, published, error));
    } catch (err) {
      log.error({ err }, 'a failure event payload does not match its schema; not published');
      return [];
    }
  };
  return { ifFinal: forEnd(true), otherwise: forEnd(false) };
}

export function describeFailure(step: ClaimedStep, error: Error): AttemptFailure {
  const classified =
    error instanceof ClaimLostError
      ? {
          outcome: 'aborted' as const,
          errorClass: error.name,
          errorCode: null,
          message: error.message,
          httpStatus: null,
          retryAfterMs: null,
        }
      : classifyStepError(error);
  const policy = {
    max_attempts: step.maxAttempts,
    backoff_base_ms: step.backoffBaseMs,
    backoff_cap_ms: step.backoffCapMs,
    jitter: step.jitter,
  };
  const next =
    classified.outcome === 'aborted'
      ? ({ status: 'error', reason: 'aborted' } as const)
      : decideAfterFailure({
          attempt: countedAttempts(step.attempt, step.uncountedAttempts),
          maxAttempts: step.maxAttempts,
          error: classified,
          policy,
        });
  return { ...classified, next };
}

export function logOutcome(
  log: Logger,
  step: ClaimedStep,
  failure: AttemptFailure | null,
  result: OutcomeResult,
): void {
  if (!result.applied) {
    log.warn(
      { outcome: failure?.outcome ?? 'success' },
      'late result recorded as stale; the attempt had lost its claim',
    );
  } else if (!failure) {
    log.info({ ready: result.ready.length }, 'step complete');
  } else if (result.held) {
    log.warn(
      { outcome: failure.outcome, error: failure.message },
      'step held: its service breaker is open; attempt not counted',
    );
  } else if (failure.next.status === 'waiting_retry') {
    log.warn(
      { outcome: failure.outcome, error: failure.message, retry_in_ms: failure.next.delayMs },
      'step attempt failed; retry scheduled',
    );
  } else {
    log.error(
      {
        outcome: failure.outcome,
        error: failure.message,
        reason: failure.next.reason,
        max_attempts: step.maxAttempts,
      },
      'step failed',
    );
  }
  if (result.breaker) {
    const { from, to, reason, nextProbeAt } = result.breaker;
    log.warn({ breaker_from: from, breaker_to: to, reason, next_probe_at: nextProbeAt }, `breaker ${to}`);
  }
  if (result.task) log.info({ task_status: result.task.to }, `task ${result.task.to}`);
}
