/**
 * The worker's side of decision steps: a decision handler's results name the steps it chooses
 * (`{ activate: [...] }`, see decide() in core); they are checked against the step's `decides`
 * before anything is written, then recorded with the skips in one transaction
 * (recordDecisionSuccess in @switchyard/db).
 */
import { parseDecision } from '@switchyard/core';
import { type ClaimedStep, type Pool, recordDecisionSuccess, type StepSuccess } from '@switchyard/db';
import type { Logger } from 'pino';
import type { SuccessRecording } from './success-recording.ts';

/**
 * Records a decision step's success, or refuses results that are not a decision among its
 * `decides` (`decision_invalid`: an undeclared name, a malformed return): running the handler
 * again would decide the same, so the attempt fails for good and nothing of the decision is applied.
 */
export async function recordDecisionOutcome(
  pool: Pool,
  workerId: string,
  step: ClaimedStep,
  success: StepSuccess,
  log: Logger,
): Promise<SuccessRecording> {
  const decision = parseDecision(success.results, step.decides);
  if (!decision.ok) {
    return {
      kind: 'refused',
      message: `step ${step.name}: ${decision.message}`,
      errorCode: 'decision_invalid',
    };
  }
  const result = await recordDecisionSuccess(pool, workerId, success, decision.chosen);
  if (result.applied) log.info({ chosen: decision.chosen, ready: result.ready.length }, 'decision recorded');
  return { kind: 'recorded', result };
}
