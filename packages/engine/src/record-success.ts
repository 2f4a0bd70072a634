/**
 * How a step's success is recorded, by the step's type: an ordinary step joins the worker's
 * batched success statement; a decision or a batchable step goes through its own transaction
 * (its results change the task's graph). Results that cannot be recorded are refused, and the
 * caller fails the attempt for good with the reason.
 */
import { toError } from '@switchyard/core';
import {
  type ClaimedStep,
  isDatabaseUnavailable,
  type OutcomeResult,
  type Pool,
  type StepSuccess,
} from '@switchyard/db';
import type { Logger } from 'pino';
import { recordBatchableOutcome } from './batch-steps.ts';
import { recordDecisionOutcome } from './decision-steps.ts';
import type { SuccessRecording } from './success-recording.ts';

export type SuccessRecorders = {
  pool: Pool;
  workerId: string;
  log: Logger;
  /** The batched statement of ordinary successes (see StatementBatcher). */
  submitBatched: (success: StepSuccess) => Promise<OutcomeResult>;
};

export async function recordSuccess(
  step: ClaimedStep,
  success: StepSuccess,
  { pool, workerId, log, submitBatched }: SuccessRecorders,
): Promise<SuccessRecording> {
  try {
    if (step.type === 'batchable') return await recordBatchableOutcome(pool, workerId, success, log);
    if (step.type === 'decision') return await recordDecisionOutcome(pool, workerId, step, success, log);
    return { kind: 'recorded', result: await submitBatched(success) };
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw err;
    // Postgres refused the results (a NUL byte in a string) or they do not serialize (a
    // BigInt). Running the handler again would return them again: the attempt fails for good,
    // saying why, and an operator can resolve the step with results that fit.
    const message = `results could not be stored: ${toError(err).message}`;
    return { kind: 'refused', message, errorCode: 'results_not_storable', cause: err };
  }
}
