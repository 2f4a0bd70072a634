/**
 * Recording a decision step's success: one transaction that checks the attempt's fence, skips
 * what the decision did not choose (decisions.ts), then runs the ordinary success statement, so
 * the chosen steps become ready exactly as any child does, and finalizes the task when nothing
 * of it is left to run. A stale attempt changes nothing (its attempt row is kept as stale).
 */
import type pg from 'pg';
import { heldByClaimer } from './attempt-fence.ts';
import { evaluateBreaker } from './breaker-state.ts';
import { applyDecision, decisionReason, lockTaskSteps } from './decisions.ts';
import type { ReadyStep } from './ready-children.ts';
import { type OutcomeResult, type StepSuccess, stepSuccessesQuery } from './step-outcomes.ts';
import { finalizeTaskIfDone } from './task-finalization.ts';
import { withTransaction } from './transaction.ts';

/**
 * Records the success of a decision step that chose `chosen` (already checked against its
 * `decides`: see parseDecision in core). The step's transition to complete carries the reason
 * `decided: <chosen> (skipped: <names>)`; each skipped step's transition says why it was skipped.
 * Returns the steps to dispatch after commit: the chosen ones, and deferred joins the skips
 * settled. Retried whole on a deadlock or a lost connection (the fence makes that safe).
 * Locks: every step row of the task (id order), then the task row when finalizing, or the
 * breaker row after a probe.
 */
export async function recordDecisionSuccess(
  pool: pg.Pool,
  workerId: string,
  success: StepSuccess,
  chosen: readonly string[],
): Promise<OutcomeResult> {
  const { record } = success;
  return withTransaction(pool, async (client) => {
    const steps = await lockTaskSteps(client, record.taskId);
    const decision = steps.find((step) => step.id === record.stepId);
    const applied =
      decision && heldByClaimer(decision, record.attempt, workerId)
        ? await applyDecision(client, { steps, decision, chosen, actor: workerId })
        : { skipped: [], ready: [] };
    const { rows } = await client.query(stepSuccessesQuery(workerId, [success]));
    if ((rows[0].applied as string[]).length === 0) return stale();
    await recordReason(client, record.stepId, record.attempt, decisionReason(chosen, applied));
    const ready: ReadyStep[] = [...applied.ready, ...(rows[0].ready as ReadyStep[])];
    const task = ready.length === 0 ? await finalizeTaskIfDone(client, record.taskId, workerId) : null;
    const breaker = record.probe
      ? (await evaluateBreaker(client, { dependentSystem: record.dependentSystem, actor: workerId }))
          .transition
      : null;
    return { applied: true, ready, claimed: [], retry: null, task, held: false, breaker };
  });
}

/**
 * The success statement records no reason (it is the hot path of every step); the decision's
 * is added to the transition row this same transaction just inserted, before anyone can read it.
 */
async function recordReason(client: pg.PoolClient, stepId: string, attempt: number, reason: string) {
  await client.query(
    `UPDATE step_transitions SET reason = $3
      WHERE step_id = $1 AND attempt = $2 AND to_status = 'complete' AND reason IS NULL`,
    [stepId, attempt, reason],
  );
}

function stale(): OutcomeResult {
  return { applied: false, ready: [], claimed: [], retry: null, task: null, held: false, breaker: null };
}
