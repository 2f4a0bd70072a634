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

/** What an insert answers for one task: the root steps to dispatch after commit (none for a duplicate). */
export type InsertedTask = {
  task: TaskRow;
  duplicate: boolean;
  ready: (ReadyStep & { delayMs: number | null })[];
};

/**
 * Tasks, their steps, edges and creation transitions in one statement (atomic on its own: no
 * transaction, one round trip, one commit, however many tasks). `$1` holds one JSON object per
 * task, `$2` the step specs of each template once (a task names its template by index). A task
 * whose identity exists already inserts nothing and returns no row. Tasks are inserted in
 * identity order, so two statements that insert the same identities wait for each other in the
 * same order instead of deadlocking. The steps refer to the tasks inserted by the same
 * statement; foreign keys are checked at the end of the statement, when the task rows are there.
 * The steps' creation transitions are not stored: the step_audit view derives them from the
 * step, its task and the task's creation transition (measured with bench/src/creation-cost.ts:
 * storing them was 5 of the 17 rows of a registration and about a tenth of its creation's CPU).
 *
 * Delayed start: root steps are created `enqueued` as always, with next_attempt_at = run_at, the
 * not-before time the claim already honours for retries; their jobs are added delayed until
 * then, and the scheduler's missing-job repair re-adds a lost one with the delay left.
 */
const INSERT_TASKS_SQL = `
WITH request AS (
  SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(
    named_task_id int, identity_strategy text, identity_hash text, context jsonb, correlation_id text,
    initiator text, source_system text, reason text, tags text[], priority int, trace_context text,
    template int, actor text, transition_reason text, run_at timestamptz, schedule_id uuid,
    schedule_tick_at timestamptz)
), task AS (
  INSERT INTO tasks (named_task_id, status, identity_strategy, identity_hash, context, correlation_id,
                     initiator, source_system, reason, tags, priority, trace_context, run_at, schedule_id,
                     schedule_tick_at)
  SELECT named_task_id, 'pending', identity_strategy, identity_hash, context, correlation_id,
         initiator, source_system, reason, tags, priority, trace_context, run_at, schedule_id, schedule_tick_at
    FROM request ORDER BY identity_hash
  ON CONFLICT (identity_hash) DO NOTHING
  RETURNING ${TASK_COLUMNS}
), created AS (
  SELECT t.id, t."runAt" AS run_at, r.template, r.actor, r.transition_reason
    FROM task t JOIN request r ON r.identity_hash = t."identityHash"
), spec AS (
  SELECT (tpl.ordinality - 1)::int AS template, s.*
    FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS tpl(steps, ordinality),
         jsonb_to_recordset(tpl.steps) AS s(
           name text, handler text, dependent_system text, max_attempts int, backoff_base_ms int,
           backoff_cap_ms int, jitter boolean, timeout_ms int, handler_config jsonb, depends_on text[],
           on_breaker_open text, publishes jsonb, type text, decides text[], convergence text)
), inserted AS (
  INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                              backoff_cap_ms, jitter, timeout_ms, handler_config, pending_parents, enqueued_at,
                              on_breaker_open, publishes, next_attempt_at, type, decides, convergence)
  SELECT c.id, s.name, s.handler, s.dependent_system,
         CASE WHEN cardinality(s.depends_on) = 0 THEN 'enqueued' ELSE 'pending' END,
         s.max_attempts, s.backoff_base_ms, s.backoff_cap_ms, s.jitter, s.timeout_ms, s.handler_config,
         cardinality(s.depends_on), CASE WHEN cardinality(s.depends_on) = 0 THEN clock_timestamp() END,
         s.on_breaker_open, s.publishes, CASE WHEN cardinality(s.depends_on) = 0 THEN c.run_at END, s.type,
         s.decides, s.convergence
    FROM created c JOIN spec s ON s.template = c.template
  RETURNING id, task_id, name, status, handler, attempts, next_attempt_at
), edges AS (
  INSERT INTO workflow_step_edges (task_id, from_step_id, to_step_id)
  SELECT c.task_id, p.id, c.id
    FROM inserted c
    JOIN created t ON t.id = c.task_id
    JOIN spec s ON s.template = t.template AND s.name = c.name
    CROSS JOIN LATERAL unnest(s.depends_on) AS d(parent)
    JOIN inserted p ON p.task_id = c.task_id AND p.name = d.parent
), task_transition AS (
  INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
  SELECT id, NULL, 'pending', transition_reason, actor FROM created
)
SELECT t.*, COALESCE(r.ready, '[]'::json) AS ready
  FROM task t
  LEFT JOIN (SELECT i.task_id,
                    json_agg(json_build_object('stepId', i.id, 'taskId', i.task_id, 'handler', i.handler,
                                               'attempt', ${nextAttemptSql('i')},
                                               'delayMs', GREATEST(0, ceil(extract(epoch FROM i.next_attempt_at - clock_timestamp()) * 1000))::int)) AS ready
               FROM inserted i WHERE i.status = 'enqueued' GROUP BY i.task_id) r ON r.task_id = t.id`;

/**
 * Creates a task with its steps, edges and initial transitions, or returns the existing task
 * with the same identity hash. One statement; needs no transaction.
 */
export async function insertTask(db: Queryable, input: NewTask): Promise<InsertedTask> {
  const [inserted] = await insertTasks(db, [input]);
  return inserted as InsertedTask;
}

/**
 * Creates many tasks in one statement, answering each as if it had been inserted alone, one
 * after the other in this order: the first of an identity is created (unless a task with it
 * exists), a later one with the same identity gets that task as a duplicate. All or nothing:
 * a task Postgres refuses fails the statement. Needs no transaction.
 */
export async function insertTasks(db: Queryable, inputs: readonly NewTask[]): Promise<InsertedTask[]> {
  // Only the first of each identity is sent: a second would otherwise join the first's task row
  // and give it a second set of steps.
  const firsts = new Map<string, NewTask>();
  for (const input of inputs) if (!firsts.has(input.identityHash)) firsts.set(input.identityHash, input);
  const templates = new Map<number, number>();
  const specs: ReturnType<typeof stepSpecs>[] = [];
  const requests = [...firsts.values()].map((input) => {
    let template = templates.get(input.namedTaskId);
    if (template === undefined) {
      template = specs.push(stepSpecs(input.template)) - 1;
      templates.set(input.namedTaskId, template);
    }
    return taskRequest(input, template);
  });
  const { rows } = await db.query({
    name: 'switchyard_insert_tasks',
    text: INSERT_TASKS_SQL,
    values: [JSON.stringify(requests), JSON.stringify(specs)],
  });
  const created = new Map<string, InsertedTask>();
  for (const { ready, ...task } of rows as (TaskRow & { ready: InsertedTask['ready'] })[])
    created.set(task.identityHash, { task, duplicate: false, ready });
  const existing = await existingTasks(
    db,
    [...firsts.keys()].filter((hash) => !created.has(hash)),
  );
  const answered = new Set<string>();
  return inputs.map(({ identityHash }) => {
    const first = !answered.has(identityHash);
    answered.add(identityHash);
    const own = created.get(identityHash);
    if (own && first) return own;
    return { task: (own?.task ?? existing.get(identityHash)) as TaskRow, duplicate: true, ready: [] };
  });
}

/** The tasks that hold these identities already, by identity hash. */
async function existingTasks(db: Queryable, hashes: string[]): Promise<Map<string, TaskRow>> {
  if (hashes.length === 0) return new Map();
  const { rows } = await db.query(`SELECT ${TASK_COLUMNS} FROM tasks WHERE identity_hash = ANY($1)`, [
    hashes,
  ]);
  return new Map((rows as TaskRow[]).map((task) => [task.identityHash, task]));
}

function taskRequest(input: NewTask, template: number) {
  return {
    named_task_id: input.namedTaskId,
    identity_strategy: input.identityStrategy,
    identity_hash: input.identityHash,
    context: input.context,
    correlation_id: input.correlationId,
    initiator: input.initiator,
    source_system: input.sourceSystem,
    reason: input.reason,
    tags: input.tags,
    priority: input.priority,
    trace_context: input.traceContext,
    template,
    actor: input.actor,
    transition_reason: input.reason ?? 'created',
    run_at: input.runAt ?? null,
    schedule_id: input.scheduleId ?? null,
    schedule_tick_at: input.scheduleTickAt ?? null,
  };
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
