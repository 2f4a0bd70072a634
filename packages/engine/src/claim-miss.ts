import { attemptsBefore } from '@switchyard/core';
import {
  type ClaimMiss,
  explainClaimMiss,
  holdBlockedStep,
  type Pool,
  releaseStepClaim,
} from '@switchyard/db';
import type { StepDispatch, StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

/**
 * What follows a claim that missed, for a delivery and for an eager claim alike: a step its
 * service's breaker blocks is held (no attempt used; the scheduler releases it when the breaker
 * lets it), and any other miss is explained (see ClaimMiss). Only the rare miss pays these reads.
 */
export async function judgeClaimMiss(
  pool: Pool,
  workerId: string,
  stepId: string,
  attempt: number,
): Promise<'held' | ClaimMiss> {
  const attempts = attemptsBefore(attempt);
  if (await holdBlockedStep(pool, { stepId, attempts, point: 'before_claim', actor: workerId }))
    return 'held';
  return explainClaimMiss(pool, stepId, attempt);
}

/**
 * Puts steps whose state is committed on their queues. A failure is logged and left to the
 * scheduler, which re-dispatches every queued step whose job is missing.
 */
export async function dispatchCommitted(
  dispatcher: StepDispatcher,
  steps: readonly StepDispatch[],
  log: Logger,
): Promise<void> {
  if (steps.length === 0) return;
  try {
    await dispatcher.dispatch(steps);
  } catch (err) {
    log.error(
      { err, steps: steps.map((s) => s.stepId) },
      'dispatch after commit failed; left to the scheduler',
    );
  }
}

/**
 * Hands a claimed attempt back (releaseStepClaim: enqueued again, the attempt uncounted) and
 * puts it on its queue. False when the claim was already lost and there was nothing to hand back.
 */
export async function handBack(
  pool: Pool,
  dispatcher: StepDispatcher,
  claim: Parameters<typeof releaseStepClaim>[1],
  log: Logger,
): Promise<boolean> {
  const ready = await releaseStepClaim(pool, claim);
  if (ready) await dispatchCommitted(dispatcher, [ready], log);
  return ready !== null;
}
