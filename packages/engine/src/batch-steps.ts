/**
 * The worker's side of batch steps: a batchable step's success goes through its own path (the
 * plan is checked, then its workers are created in the success's transaction), and a batch
 * worker's handler gets its batch and a fenced checkpoint.
 */
import { PermanentError, planBatches } from '@switchyard/core';
import {
  type ClaimedStep,
  type Pool,
  recordBatchableSuccess,
  recordBatchCheckpoint,
  type StepSuccess,
} from '@switchyard/db';
import type { StepHandlerContext } from '@switchyard/handler-kit';
import type { Logger } from 'pino';
import { ClaimLostError } from './run-handler.ts';
import type { SuccessRecording } from './success-recording.ts';

/**
 * Checks the plan a batchable handler returned and records the success with its workers. A
 * malformed plan, or one over the per-task limit, is refused with nothing created: running the
 * handler again would plan the same, so the caller fails the attempt for good.
 */
export async function recordBatchableOutcome(
  pool: Pool,
  workerId: string,
  success: StepSuccess,
  log: Logger,
): Promise<SuccessRecording> {
  const plan = planBatches(success.results);
  if (!plan.ok) return { kind: 'refused', message: plan.message, errorCode: 'batch_plan_invalid' };
  const startedAt = performance.now();
  const created = await recordBatchableSuccess(pool, workerId, success, plan.cursors);
  if (created.kind === 'over_limit') {
    return { kind: 'refused', message: created.message, errorCode: 'batch_limit_exceeded' };
  }
  if (created.outcome.applied) {
    const ms = Math.round(performance.now() - startedAt);
    log.info({ batches: created.batches, duration_ms: ms }, 'batch plan recorded; workers created');
  }
  return { kind: 'recorded', result: created.outcome };
}

/** What a handler's context adds for batches: the batch (or null) and `checkpoint`. */
export function batchContext(
  step: ClaimedStep,
  pool: Pool,
  workerId: string,
  controller: AbortController,
): Pick<StepHandlerContext, 'batch' | 'checkpoint'> {
  const batch = step.batch;
  if (!batch) {
    return {
      batch: null,
      async checkpoint() {
        throw new PermanentError(`step ${step.name} is not a batch worker; only batch workers checkpoint`, {
          errorCode: 'not_a_batch_worker',
        });
      },
    };
  }
  return {
    batch: { index: batch.index, cursor: batch.cursor, checkpoint: batch.checkpoint },
    async checkpoint(cursor, partial = null) {
      if (controller.signal.aborted) throw controller.signal.reason;
      const recorded = await recordBatchCheckpoint(pool, {
        stepId: step.id,
        attempt: step.attempt,
        workerId,
        cursor,
        partial,
      });
      if (recorded) return;
      // The attempt lost its claim (lease expired, task cancelled): stop it, so it neither
      // writes more nor does work another attempt now owns.
      const lost = new ClaimLostError('the checkpoint was refused: this attempt no longer holds the step');
      controller.abort(lost);
      throw lost;
    },
  };
}
