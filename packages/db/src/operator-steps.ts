/**
 * Operator repairs of a single step: retry a failed step with fresh attempts, or resolve a step
 * by hand so its dependents proceed. Each is one transaction (run them through withTransaction)
 * that locks the task row, then the step row, and writes the audit rows of every change.
 */
import {
  ConflictError,
  checkChosen,
  decideTaskStatus,
  NotFoundError,
  nextAttempt,
  ValidationError,
} from '@switchyard/core';
import type pg from 'pg';
import { type AppliedDecision, applyDecision, decisionReason, lockTaskSteps } from './decisions.ts';
import { READY_STEPS_JSON, type ReadyStep, readyChildrenCtes, taskPlaceSql } from './ready-children.ts';
import { finalizeTaskIfDone, type TaskFinalization } from './task-finalization.ts';

/** What an operator repair changed; dispatch `ready` after commit. */
export type OperatorStepResult = {
  taskId: string;
  step: { id: string; name: string; from: string; to: string };
  /** The task's status change, if any (error → in_progress, and perhaps on to complete or error). */
  task: { from: string; to: string } | null;
  ready: ReadyStep[];
};

type LockedStep = {
  id: string;
  status: string;
  attempts: number;
  handler: string;
  type: string | null;
  decides: string[] | null;
};

async function lockTask(client: pg.PoolClient, taskId: string): Promise<string> {
  const { rows } = await client.query('SELECT status FROM tasks WHERE id = $1 FOR UPDATE', [taskId]);
  const status = rows[0]?.status as string | undefined;
  if (!status) throw new NotFoundError(`task ${taskId} does not exist`);
  if (status === 'cancelled' || status === 'complete') {
    throw new ConflictError(`task ${taskId} is ${status}; its steps can no longer be retried or resolved`);
  }
  return status;
}

async function lockStep(client: pg.PoolClient, taskId: string, name: string): Promise<LockedStep> {
  const { rows } = await client.query(
    'SELECT id, status, attempts, handler, type, decides FROM workflow_steps WHERE task_id = $1 AND name = $2 FOR UPDATE',
    [taskId, name],
  );
  if (!rows[0]) throw new NotFoundError(`task ${taskId} has no step named ${name}`);
  return rows[0] as LockedStep;
}

async function reopenTask(client: pg.PoolClient, taskId: string, reason: string, actor: string) {
  await client.query(
    `WITH updated AS (
       UPDATE tasks SET status = 'in_progress', completed_at = NULL, updated_at = clock_timestamp()
        WHERE id = $1 AND status = 'error' RETURNING id)
     INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
     SELECT id, 'error', 'in_progress', $2, $3 FROM updated`,
    [taskId, reason, actor],
  );
}

const RETRY_SQL = `
WITH retried AS (
  UPDATE workflow_steps
     SET status = 'enqueued', uncounted_attempts = attempts, next_attempt_at = NULL, completed_at = NULL,
         claimed_by = NULL, lease_expires_at = NULL, hold_reason = NULL, hold_until = NULL, probe = false,
         enqueued_at = clock_timestamp(), updated_at = clock_timestamp()
   WHERE id = $1 AND status = 'error'
  RETURNING id, task_id, attempts
), transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, attempts, 'error', 'enqueued', $2, $3 FROM retried
)
SELECT place.namespace, place.priority FROM retried r CROSS JOIN LATERAL ${taskPlaceSql('r.task_id')} place`;

/**
 * Retries a failed step: `error → enqueued` with a fresh set of attempts. `uncounted_attempts`
 * is set to `attempts`, so earlier attempts no longer count against max_attempts while
 * `attempts` itself (the claim fence) never goes back: old messages stay stale. A failed task
 * (`error`) resumes (`in_progress`). Dispatch the returned attempt after commit.
 * Locks: the task row, then the step row.
 * @throws NotFoundError (task or step); ConflictError when the step is not in error or the task
 *   is cancelled or complete.
 */
export async function retryFailedStep(
  client: pg.PoolClient,
  input: { taskId: string; stepName: string; actor: string; reason?: string | null },
): Promise<OperatorStepResult> {
  const taskStatus = await lockTask(client, input.taskId);
  const step = await lockStep(client, input.taskId, input.stepName);
  if (step.status !== 'error') {
    throw new ConflictError(
      `step ${input.stepName} is ${step.status}; only a failed (error) step can be retried`,
    );
  }
  const reason = input.reason ?? 'retried by operator';
  const { rows } = await client.query(RETRY_SQL, [step.id, reason, input.actor]);
  const place = rows[0] as { namespace: string; priority: number };
  if (taskStatus === 'error')
    await reopenTask(client, input.taskId, `step ${input.stepName} retried`, input.actor);
  return {
    taskId: input.taskId,
    step: { id: step.id, name: input.stepName, from: 'error', to: 'enqueued' },
    task: taskStatus === 'error' ? { from: 'error', to: 'in_progress' } : null,
    ready: [
      {
        stepId: step.id,
        taskId: input.taskId,
        handler: step.handler,
        attempt: nextAttempt(step.attempts),
        namespace: place.namespace,
        priority: place.priority,
      },
    ],
  };
}

const RESOLVABLE = ['pending', 'enqueued', 'held', 'waiting_retry', 'error'];

// The children update mirrors SUCCESS_SQL in step-attempts' outcomes: a child whose last
// unsatisfied parent this was turns enqueued in the same statement.
const RESOLVE_SQL = `
WITH resolved AS (
  UPDATE workflow_steps
     SET status = 'resolved_manually', results = COALESCE($2::jsonb, results), completed_at = clock_timestamp(),
         next_attempt_at = NULL, hold_reason = NULL, hold_until = NULL, claimed_by = NULL, lease_expires_at = NULL,
         probe = false, updated_at = clock_timestamp()
   WHERE id = $1 RETURNING id, task_id, attempts
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, attempts, $3, 'resolved_manually', $4, $5 FROM resolved
), ${readyChildrenCtes('resolved', '$5')}
SELECT ${READY_STEPS_JSON} AS ready`;

/**
 * Resolves a step by hand (`resolved_manually`, with optional results its dependents receive
 * as the step's results). Its children whose parents are now all satisfied become ready; a
 * failed task resumes when work remains, and the task is finalized when nothing is left.
 * A decision step is resolved with the steps it chooses (`chosen`, any of its `decides`, [] for
 * none): the others are skipped as its own success would (decisions.ts), `activate` is added to
 * its results and the choice to the reason. Dispatch `ready` after commit.
 * Locks: the task row, the step row, then (a decision) every step row of the task, or its
 * children's rows.
 * @throws NotFoundError (task or step); ConflictError when the step is running (cancel the task
 *   or wait for the attempt) or already finished, or the task is cancelled or complete;
 *   ValidationError (path `/chosen`) for a decision resolved without a chosen set or with an
 *   undeclared name, or a chosen set on a step that is not a decision.
 */
export async function resolveStepManually(
  client: pg.PoolClient,
  input: {
    taskId: string;
    stepName: string;
    actor: string;
    reason?: string | null;
    results?: unknown;
    chosen?: readonly string[];
  },
): Promise<OperatorStepResult> {
  const taskStatus = await lockTask(client, input.taskId);
  const step = await lockStep(client, input.taskId, input.stepName);
  refuseUnresolvable(input.stepName, step.status);
  const chosen = checkResolvedChoice(input.stepName, step, input.chosen);
  const decided = chosen ? await applyResolvedDecision(client, input, step, chosen) : null;
  const given = decided ? withActivate(input.results, chosen!) : input.results;
  const results = given === undefined ? null : JSON.stringify(given);
  const reason = [input.reason ?? 'resolved by operator', decided && decisionReason(chosen!, decided)]
    .filter(Boolean)
    .join('; ');
  const { rows } = await client.query(RESOLVE_SQL, [step.id, results, step.status, reason, input.actor]);
  const ready = [...(decided?.ready ?? []), ...(rows[0].ready as ReadyStep[])];
  const task = await settleTask(client, input.taskId, taskStatus, input);
  return {
    taskId: input.taskId,
    step: { id: step.id, name: input.stepName, from: step.status, to: 'resolved_manually' },
    task,
    ready,
  };
}

/** The chosen set of a decision step being resolved (null for another step), checked. */
function checkResolvedChoice(
  name: string,
  step: LockedStep,
  chosen: readonly string[] | undefined,
): readonly string[] | null {
  const declared = step.decides ?? [];
  if (step.type !== 'decision') {
    if (chosen === undefined) return null;
    const message = `step ${name} is not a decision step; only a decision is resolved with a chosen set`;
    throw new ValidationError('invalid resolve', [{ path: '/chosen', rule: 'not_a_decision', message }]);
  }
  if (chosen === undefined) {
    const message = `step ${name} is a decision step: resolve it with the steps it chooses, any of ${declared.join(', ')} ([] for none)`;
    throw new ValidationError('invalid resolve', [{ path: '/chosen', rule: 'required', message }]);
  }
  const parsed = checkChosen(chosen, declared);
  if (!parsed.ok) {
    throw new ValidationError('invalid resolve', [
      { path: '/chosen', rule: 'undeclared', message: parsed.message },
    ]);
  }
  return parsed.chosen;
}

async function applyResolvedDecision(
  client: pg.PoolClient,
  input: { taskId: string; actor: string },
  step: LockedStep,
  chosen: readonly string[],
): Promise<AppliedDecision> {
  const steps = await lockTaskSteps(client, input.taskId);
  const decision = steps.find((s) => s.id === step.id)!;
  return applyDecision(client, { steps, decision, chosen, actor: input.actor });
}

/** The results of a resolved decision: the operator's (an object is kept) with `activate`. */
function withActivate(results: unknown, chosen: readonly string[]): Record<string, unknown> {
  const base = typeof results === 'object' && results !== null && !Array.isArray(results) ? results : {};
  return { ...base, activate: [...chosen] };
}

function refuseUnresolvable(name: string, status: string): void {
  if (status === 'in_progress') {
    throw new ConflictError(
      `step ${name} is running; wait for its attempt to finish or cancel the task before resolving it`,
    );
  }
  if (!RESOLVABLE.includes(status)) {
    throw new ConflictError(
      `step ${name} is already ${status}; only an unfinished or failed step can be resolved`,
    );
  }
}

/**
 * After a resolution: a failed task resumes unless it is still blocked by another failure,
 * then finalizes if nothing is left (both in this transaction, task row already locked).
 */
async function settleTask(
  client: pg.PoolClient,
  taskId: string,
  from: string,
  input: { stepName: string; actor: string },
): Promise<{ from: string; to: string } | null> {
  let status = from;
  if (from === 'error' && (await decideAfterResolution(client, taskId)) !== 'error') {
    await reopenTask(client, taskId, `step ${input.stepName} resolved manually`, input.actor);
    status = 'in_progress';
  }
  const finalized: TaskFinalization | null = await finalizeTaskIfDone(client, taskId, input.actor);
  const to = finalized?.to ?? status;
  return to === from ? null : { from, to };
}

async function decideAfterResolution(client: pg.PoolClient, taskId: string) {
  const { rows } = await client.query(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE status IN ('complete', 'resolved_manually'))::int AS satisfied,
            count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
            count(*) FILTER (WHERE status IN ('enqueued', 'held', 'in_progress', 'waiting_retry'))::int AS in_flight
       FROM workflow_steps WHERE task_id = $1`,
    [taskId],
  );
  return decideTaskStatus({
    total: rows[0].total,
    satisfied: rows[0].satisfied,
    skipped: rows[0].skipped,
    inFlight: rows[0].in_flight,
  });
}
