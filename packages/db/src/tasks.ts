import type { IdentityStrategy, TaskTemplate } from '@switchyard/core';
import { nextAttemptSql } from './attempt-fence.ts';
import type { Queryable } from './pool.ts';
import type { ReadyStep } from './ready-children.ts';

export type TaskRow = {
  id: string;
  namedTaskId: number;
  status: string;
  identityStrategy: IdentityStrategy;
  identityHash: string;
  context: unknown;
  correlationId: string;
  initiator: string | null;
  sourceSystem: string | null;
  reason: string | null;
  tags: string[];
  priority: number;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  /** Delayed start: no root step is claimed before it (null: started at once). */
  runAt: Date | null;
  /** The schedule that created the task, and the tick it was created for. */
  scheduleId: string | null;
  scheduleTickAt: Date | null;
};

export type NewTask = {
  namedTaskId: number;
  template: TaskTemplate;
  context: unknown;
  identityStrategy: IdentityStrategy;
  identityHash: string;
  correlationId: string;
  initiator: string | null;
  sourceSystem: string | null;
  reason: string | null;
  tags: string[];
  priority: number;
  /** W3C traceparent of the creating span, or null when tracing is off. */
  traceContext: string | null;
  /** Who asked, for the audit trail. */
  actor: string;
  /** Delayed start: the root steps' not-before time (null: now). */
  runAt?: Date | null;
  scheduleId?: string | null;
  scheduleTickAt?: Date | null;
};

const TASK_COLUMNS = `id, named_task_id AS "namedTaskId", status, identity_strategy AS "identityStrategy",
  identity_hash AS "identityHash", context, correlation_id AS "correlationId", initiator,
  source_system AS "sourceSystem", reason, tags, priority, created_at AS "createdAt",
  updated_at AS "updatedAt", completed_at AS "completedAt", run_at AS "runAt", schedule_id AS "scheduleId",
  schedule_tick_at AS "scheduleTickAt"`;

/**
 * The task, its steps, edges and initial transitions in one statement (atomic on its own: no
 * transaction, one round trip, one commit). A duplicate identity inserts nothing and returns
 * no row. The steps refer to the task inserted by the same statement; foreign keys are checked
 * at the end of the statement, when the task row is there.
 *
 * Delayed start: root steps are created `enqueued` as always, with next_attempt_at = run_at, the
 * not-before time the claim already honours for retries; their jobs are added delayed until
 * then, and the scheduler's missing-job repair re-adds a lost one with the delay left.
 */
const INSERT_TASK_SQL = `
WITH request AS (
  SELECT $1::int AS named_task_id, $2::text AS identity_strategy, $3::text AS identity_hash, $4::jsonb AS context,
         $5::text AS correlation_id, $6::text AS initiator, $7::text AS source_system, $8::text AS reason,
         $9::text[] AS tags, $10::int AS priority, $11::text AS trace_context, $12::jsonb AS steps,
         $13::text AS actor, $14::text AS transition_reason, $15::timestamptz AS run_at,
         $16::uuid AS schedule_id, $17::timestamptz AS schedule_tick_at
), task AS (
  INSERT INTO tasks (named_task_id, status, identity_strategy, identity_hash, context, correlation_id,
                     initiator, source_system, reason, tags, priority, trace_context, run_at, schedule_id,
                     schedule_tick_at)
  SELECT named_task_id, 'pending', identity_strategy, identity_hash, context, correlation_id,
         initiator, source_system, reason, tags, priority, trace_context, run_at, schedule_id, schedule_tick_at
    FROM request
  ON CONFLICT (identity_hash) DO NOTHING
  RETURNING ${TASK_COLUMNS}
), spec AS (
  SELECT s.* FROM request r, jsonb_to_recordset(r.steps) AS s(
    name text, handler text, dependent_system text, max_attempts int, backoff_base_ms int,
    backoff_cap_ms int, jitter boolean, timeout_ms int, handler_config jsonb, depends_on text[], on_breaker_open text,
    publishes jsonb, type text, decides text[], convergence text)
), inserted AS (
  INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                              backoff_cap_ms, jitter, timeout_ms, handler_config, pending_parents, enqueued_at,
                              on_breaker_open, publishes, next_attempt_at, type, decides, convergence)
  SELECT t.id, s.name, s.handler, s.dependent_system,
         CASE WHEN cardinality(s.depends_on) = 0 THEN 'enqueued' ELSE 'pending' END,
         s.max_attempts, s.backoff_base_ms, s.backoff_cap_ms, s.jitter, s.timeout_ms, s.handler_config,
         cardinality(s.depends_on), CASE WHEN cardinality(s.depends_on) = 0 THEN clock_timestamp() END,
         s.on_breaker_open, s.publishes, CASE WHEN cardinality(s.depends_on) = 0 THEN t."runAt" END, s.type,
         s.decides, s.convergence
    FROM spec s CROSS JOIN task t
  RETURNING id, task_id, name, status, handler, attempts, next_attempt_at
), edges AS (
  INSERT INTO workflow_step_edges (task_id, from_step_id, to_step_id)
  SELECT c.task_id, p.id, c.id
    FROM spec s CROSS JOIN LATERAL unnest(s.depends_on) AS d(parent)
    JOIN inserted c ON c.name = s.name
    JOIN inserted p ON p.name = d.parent
), step_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT i.id, i.task_id, NULL, i.status,
         CASE WHEN i.status <> 'enqueued' THEN 'created'
              WHEN i.next_attempt_at IS NULL THEN 'created; no dependencies'
              ELSE 'created; no dependencies; not before ' || to_char(i.next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END,
         r.actor
    FROM inserted i, request r
), task_transition AS (
  INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
  SELECT t.id, NULL, 'pending', r.transition_reason, r.actor FROM task t, request r
)
SELECT t.*,
       COALESCE((SELECT json_agg(json_build_object('stepId', i.id, 'taskId', i.task_id, 'handler', i.handler,
                                                    'attempt', ${nextAttemptSql('i')},
                                                    'delayMs', GREATEST(0, ceil(extract(epoch FROM i.next_attempt_at - clock_timestamp()) * 1000))::int))
                   FROM inserted i WHERE i.status = 'enqueued'), '[]'::json) AS ready
  FROM task t`;

/**
 * Creates a task with its steps, edges and initial transitions, or returns the existing task
 * with the same identity hash. One statement; needs no transaction.
 * Returns the root steps to dispatch after commit (none for a duplicate).
 */
export async function insertTask(
  db: Queryable,
  input: NewTask,
): Promise<{ task: TaskRow; duplicate: boolean; ready: (ReadyStep & { delayMs: number | null })[] }> {
  const inserted = await db.query({
    name: 'switchyard_insert_task',
    text: INSERT_TASK_SQL,
    values: [
      input.namedTaskId,
      input.identityStrategy,
      input.identityHash,
      JSON.stringify(input.context),
      input.correlationId,
      input.initiator,
      input.sourceSystem,
      input.reason,
      input.tags,
      input.priority,
      input.traceContext,
      JSON.stringify(stepSpecs(input.template)),
      input.actor,
      input.reason ?? 'created',
      input.runAt ?? null,
      input.scheduleId ?? null,
      input.scheduleTickAt ?? null,
    ],
  });
  const row = inserted.rows[0] as
    | (TaskRow & { ready: (ReadyStep & { delayMs: number | null })[] })
    | undefined;
  if (!row) {
    const existing = await db.query(`SELECT ${TASK_COLUMNS} FROM tasks WHERE identity_hash = $1`, [
      input.identityHash,
    ]);
    return { task: existing.rows[0] as TaskRow, duplicate: true, ready: [] };
  }
  const { ready, ...task } = row;
  return { task, duplicate: false, ready };
}

function stepSpecs(template: TaskTemplate) {
  return template.steps.map((step) => ({
    name: step.name,
    handler: step.handler,
    dependent_system: step.dependent_system,
    max_attempts: step.retry.max_attempts,
    backoff_base_ms: step.retry.backoff_base_ms,
    backoff_cap_ms: step.retry.backoff_cap_ms,
    jitter: step.retry.jitter,
    timeout_ms: step.timeout_ms,
    handler_config: step.handler_config,
    depends_on: step.depends_on,
    on_breaker_open: step.on_breaker_open,
    publishes: step.publishes ?? null,
    type: step.type ?? null,
    decides: step.decides ?? null,
    convergence: step.convergence ?? 'all',
  }));
}
