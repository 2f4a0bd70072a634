import { toError } from '@switchyard/core';
import {
  type OperatorStepResult,
  type Pool,
  resolveStepManually,
  retryFailedStep,
  withTransaction,
} from '@switchyard/db';
import type { StepDispatch, StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

/** What the operator operations need: the pool to change state, the dispatcher to dispatch after commit. */
export type OperatorDeps = { pool: Pool; dispatcher: StepDispatcher; logger?: Logger };

/** Who asks and why, for the audit trail. */
export type OperatorRequest = { actor: string; reason?: string };

/**
 * Retries a failed step with fresh attempts (see retryFailedStep in @switchyard/db) and
 * dispatches it right after commit; if that dispatch is lost, the scheduler re-dispatches it.
 * @throws NotFoundError, ConflictError (the step is not in error; the task is cancelled or complete)
 */
export async function retryStep(
  deps: OperatorDeps,
  taskId: string,
  stepName: string,
  request: OperatorRequest,
): Promise<OperatorStepResult> {
  const result = await withTransaction(deps.pool, (client) =>
    retryFailedStep(client, { taskId, stepName, actor: request.actor, reason: request.reason ?? null }),
  );
  await dispatchCommitted(deps, taskId, result.ready);
  deps.logger?.info({ task_id: taskId, step: stepName, actor: request.actor }, 'step retried by operator');
  return result;
}

/**
 * Resolves a step by hand, with optional results (see resolveStepManually in @switchyard/db),
 * and dispatches the children it made ready right after commit. A decision step needs `chosen`:
 * the steps it activates (the others are skipped).
 * @throws NotFoundError, ConflictError (the step is running or finished; the task is cancelled or
 *   complete), ValidationError (a decision without `chosen`, an undeclared name, `chosen` on
 *   another step)
 */
export async function resolveStep(
  deps: OperatorDeps,
  taskId: string,
  stepName: string,
  request: OperatorRequest & { results?: unknown; chosen?: readonly string[] },
): Promise<OperatorStepResult> {
  const result = await withTransaction(deps.pool, (client) =>
    resolveStepManually(client, {
      taskId,
      stepName,
      actor: request.actor,
      reason: request.reason ?? null,
      results: request.results,
      ...(request.chosen ? { chosen: request.chosen } : {}),
    }),
  );
  await dispatchCommitted(deps, taskId, result.ready);
  deps.logger?.info({ task_id: taskId, step: stepName, actor: request.actor }, 'step resolved by operator');
  return result;
}

/**
 * Dispatches steps whose state change has committed. A failed dispatch (Redis down) does not
 * fail the operation: the scheduler's sweep dispatches every enqueued step that has no job.
 */
async function dispatchCommitted(deps: OperatorDeps, taskId: string, ready: readonly StepDispatch[]) {
  await deps.dispatcher.dispatch(ready).catch((err: unknown) => {
    deps.logger?.warn(
      { err: toError(err), task_id: taskId },
      'steps made ready could not be dispatched; the scheduler will',
    );
  });
}
