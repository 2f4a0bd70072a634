/**
 * The hot path's claim and lease: claim an attempt, renew its lease, and explain a claim that
 * missed. Each is one statement (one round trip, atomic). The fence that makes a duplicate,
 * late or stale delivery change nothing is in attempt-fence.ts.
 */
import { attemptsBefore, type PublishedEvent } from '@switchyard/core';
import { claimableBySql, heldByClaimerSql } from './attempt-fence.ts';
import { BLOCKED_BY_BREAKER } from './breaker-sql.ts';
import type { Queryable } from './pool.ts';
import { LIMIT_ADMISSION_CTES, LIMIT_BUCKET_CTE, LIMIT_IN_FORCE } from './service-limit-sql.ts';

/** Everything a worker needs to run a claimed attempt. */
export type ClaimedStep = {
  id: string;
  taskId: string;
  name: string;
  handler: string;
  dependentSystem: string;
  attempt: number;
  /** Attempts that do not count against maxAttempts (shutdown hand-backs, attempts before an operator retry). */
  uncountedAttempts: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  jitter: boolean;
  timeoutMs: number;
  handlerConfig: Record<string, unknown>;
  context: unknown;
  correlationId: string;
  namespace: string;
  /** The task's priority (fair queueing: a retry is dispatched at it). */
  priority: number;
  taskName: string;
  taskVersion: string;
  /** Results of the step's parents, by parent step name. */
  parentResults: Record<string, unknown>;
  startedAt: Date;
  /** Released by the scheduler as a half-open probe of its service's breaker. */
  probe: boolean;
  /** The task's trace context (W3C traceparent), or null. */
  traceContext: string | null;
  /** Claimed while the breaker is open, to run the handler's fallback (on_breaker_open: fallback). */
  fallback: boolean;
  /** The domain events the step publishes (its template's `publishes`). */
  publishes: PublishedEvent[];
  /** The template step's type (`batchable`, `batch_worker`, ...), or null for an ordinary step. */
  type: string | null;
  /** The steps a decision step may activate (its template's `decides`); [] for other steps. */
  decides: string[];
  /** A batch worker's batch: its index, cursor and last checkpoint; null for other steps. */
  batch: ClaimedBatch | null;
};

/** What a batch worker's attempt resumes from. */
export type ClaimedBatch = {
  index: number;
  cursor: unknown;
  /** The last checkpoint an attempt recorded (see recordBatchCheckpoint), or null. */
  checkpoint: { cursor: unknown; partial: unknown } | null;
};

// Hot-path statements run as named prepared statements: parsed once per connection instead of on
// every call. Measured with bench/ (registration drain, 10 slots): parsing and planning these
// CTEs on every call cost Postgres about 1.7 ms of CPU per step and capped the fleet at ~660 steps/s.
// Preparing does not by itself plan once: under Postgres's default plan_cache_mode the claim gets
// a new custom plan on every call (its array parameters make each custom plan look cheaper than
// the generic one; bench/src/plan-counts.ts counted 1,730 custom plans in 1,730 calls, 0.76 ms of
// planning each). The worker's pool uses generic plans (force_generic_plan), made again every
// 2 s to follow the tables' size (pool.ts, WORKER_CONNECTIONS in the engine's roles.ts); a pool
// without them re-plans the claim on every call.
//
// The claim commits without waiting for its WAL flush (synchronous_commit off for this one
// transaction; `async_commit` below). That is safe because a claim is a lease and nothing more:
// - if Postgres crashes before the claim reaches disk, the step is `enqueued` again with its
//   previous attempt count, and the scheduler dispatches it again, exactly as after a worker crash;
// - the outcome that follows is committed synchronously, and flushing its commit record flushes
//   every WAL record written before it, the claim's included; an outcome can therefore never be
//   durable while its claim is not (and the fence refuses an outcome whose claim was lost).
// It halves the WAL flushes a step costs; flushes were the main wait of the hot path (bench/).
//
// The status conditions are written `(...) IS TRUE` so that no status index can serve them: the
// rows are found by primary key from the request. Statistics taken while few steps or tasks were
// waiting make a status index look cheaper to the planner, and the plan then scanned the whole
// backlog for every claim (measured with auto_explain during a burst of 2000 workflows: 2.7 ms
// per claim statement instead of 0.7 ms, growing with the backlog).
//
// A step of a system with a limit in force (service_limits) is not claimed by the plain claim:
// `claimSql('plain')` skips it (one index probe of a table holding only limited systems, so a
// system without a limit pays close to nothing), and the worker claims it again through
// claimLimitedStepAttempts (limit-claims.ts), which counts the calls in flight under the limit
// row's lock and admits with `claimSql('limited')`. A fallback (`p.blocked`: claimed while the
// breaker is open, to run the handler's fallback) does not call the service: either claim takes
// it outside the limit, and `claimed_for_fallback` keeps it out of the calls in flight.
function claimSql(admission: 'plain' | 'limited'): string {
  return `
WITH async_commit AS (
  SELECT set_config('synchronous_commit', 'off', true)
), request AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[]) WITH ORDINALITY AS r(step_id, attempt, lease_ms, ord)
), previous AS (
  SELECT s.id, s.status, s.on_breaker_open, s.dependent_system, s.waiting_since IS NOT NULL AS released,
         EXISTS (SELECT 1 FROM circuit_breakers b
                  WHERE b.dependent_system = s.dependent_system AND ${BLOCKED_BY_BREAKER}) AS blocked,
         EXISTS (SELECT 1 FROM service_limits l
                  WHERE l.dependent_system = s.dependent_system AND ${LIMIT_IN_FORCE}) AS limited
    FROM workflow_steps s JOIN request r ON r.step_id = s.id
), ${admission === 'limited' ? LIMIT_ADMISSION_CTES : ''}claimed AS (
  UPDATE workflow_steps s
     SET status = 'in_progress', attempts = s.attempts + 1, claimed_by = $4,
         lease_expires_at = clock_timestamp() + GREATEST(r.lease_ms, s.timeout_ms) * interval '1 millisecond',
         started_at = clock_timestamp(), updated_at = clock_timestamp(), waiting_since = NULL,
         claimed_for_fallback = p.blocked
    FROM request r, previous p, tasks t
   WHERE s.id = r.step_id AND ${claimableBySql('s', 'r.attempt')} AND p.id = s.id
     AND (s.status IN ('enqueued', 'waiting_retry')) IS TRUE
     AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= clock_timestamp())
     AND t.id = s.task_id AND (t.status IN ('pending', 'in_progress')) IS TRUE
     AND (NOT p.blocked OR p.on_breaker_open = 'fallback')
     AND ${admission === 'limited' ? '(NOT p.limited OR p.blocked OR s.id IN (SELECT id FROM admitted))' : '(NOT p.limited OR p.blocked)'}
  RETURNING s.*, p.status AS previous_status, p.blocked AS fallback, p.released AS was_released, p.limited AS was_limited
), ${admission === 'limited' ? LIMIT_BUCKET_CTE : ''}step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
  SELECT c.id, c.task_id, c.attempts, c.previous_status, 'in_progress', $4 FROM claimed c
), task_started AS (
  UPDATE tasks SET status = 'in_progress', updated_at = clock_timestamp()
   WHERE id IN (SELECT task_id FROM claimed) AND (status = 'pending') IS TRUE
  RETURNING id
), task_transition AS (
  INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
  SELECT id, 'pending', 'in_progress', 'first step claimed', $4 FROM task_started
)
SELECT ${claimedStepColumns('c', 'c')},
       COALESCE((SELECT jsonb_object_agg(p.name, p.results)
                   FROM workflow_step_edges e JOIN workflow_steps p ON p.id = e.from_step_id
                  WHERE e.to_step_id = c.id), '{}'::jsonb) AS parent_results
  FROM claimed c
  CROSS JOIN async_commit
  ${CLAIMED_STEP_JOINS}`;
}

/**
 * SQL: the columns toClaimedStep reads (but `parent_results`) of a claimed step: `step` is its
 * workflow_steps row, `claim` the row the claim returned (`attempts`, `started_at`, `fallback`,
 * `was_limited`), joined as {@link CLAIMED_STEP_JOINS}.
 */
export function claimedStepColumns(step: string, claim: string): string {
  return `${step}.id, ${step}.task_id, ${step}.name, ${step}.handler, ${step}.dependent_system, ${claim}.was_limited,
       ${claim}.attempts, ${step}.uncounted_attempts, ${step}.max_attempts, ${step}.backoff_base_ms, ${step}.backoff_cap_ms,
       ${step}.jitter, ${step}.timeout_ms, ${step}.handler_config, ${claim}.started_at, ${step}.probe, ${claim}.fallback,
       ${step}.publishes, ${step}.type, ${step}.decides, ${step}.batch_index, ${step}.batch_cursor, ${step}.batch_checkpoint,
       t.context, t.correlation_id, t.trace_context, nt.name AS task_name, nt.version AS task_version,
       ns.name AS namespace, t.priority`;
}

/** SQL: the joins of {@link claimedStepColumns}, from the claimed row `c` to its task and namespace. */
export const CLAIMED_STEP_JOINS = `JOIN tasks t ON t.id = c.task_id
  JOIN named_tasks nt ON nt.id = t.named_task_id
  JOIN namespaces ns ON ns.id = nt.namespace_id`;

const CLAIM_SQL = claimSql('plain');
/** The claim that admits steps of limited systems; run under their limit rows' locks (limit-claims.ts). */
export const LIMITED_CLAIM_SQL = claimSql('limited');

/** One delivery to claim: attempt `attempt` of a step, with a lease of `leaseMs` (or the step's timeout if longer). */
export type ClaimRequest = { stepId: string; attempt: number; leaseMs: number };

/**
 * Claims deliveries for `workerId` in one statement (one round trip, one commit): a busy worker
 * claims together the deliveries that arrived while its previous claim was running. Each
 * request is judged by the fence on its own (attempt-fence.ts). Returns one entry per request,
 * in order: the claimed step, or null (see explainClaimMiss). Two requests for the same attempt
 * claim it once; the first of them gets it.
 *
 * The lease lasts `leaseMs`, or the step's timeout if that is longer: it never ends before the
 * handler's own timeout has aborted it, so a worker that cannot renew (a blocked event loop,
 * Postgres unreachable for a while) never sees its step run elsewhere while its own attempt may
 * still be running.
 * Locks: the step rows; a task row only on the task's first claim (pending → in_progress).
 */
export async function claimStepAttempts(
  db: Queryable,
  workerId: string,
  requests: ClaimRequest[],
): Promise<(ClaimedStep | null)[]> {
  if (requests.length === 0) return [];
  const { rows } = await db.query({
    name: 'switchyard_claim_steps',
    text: CLAIM_SQL,
    values: [
      requests.map((r) => r.stepId),
      requests.map((r) => r.attempt),
      requests.map((r) => r.leaseMs),
      workerId,
    ],
  });
  return matchClaims(requests, rows);
}

/** One entry per request, in order: its claimed step, or null. */
export function matchClaims(
  requests: ClaimRequest[],
  rows: Record<string, unknown>[],
): (ClaimedStep | null)[] {
  const claimed = new Map(rows.map((row) => [`${row.id}.${row.attempts}`, toClaimedStep(row)]));
  return requests.map((r) => {
    const key = `${r.stepId}.${r.attempt}`;
    const step = claimed.get(key) ?? null;
    claimed.delete(key);
    return step;
  });
}

/** A claimed step from the JSON of a row of {@link claimedStepColumns} (timestamps come as text). */
export function claimedStepFromJson(row: Record<string, unknown>): ClaimedStep {
  return toClaimedStep({ ...row, started_at: new Date(row.started_at as string) });
}

function toClaimedStep(row: Record<string, unknown>): ClaimedStep {
  return {
    id: row.id as string,
    taskId: row.task_id as string,
    name: row.name as string,
    handler: row.handler as string,
    dependentSystem: row.dependent_system as string,
    attempt: row.attempts as number,
    uncountedAttempts: row.uncounted_attempts as number,
    maxAttempts: row.max_attempts as number,
    backoffBaseMs: row.backoff_base_ms as number,
    backoffCapMs: row.backoff_cap_ms as number,
    jitter: row.jitter as boolean,
    timeoutMs: row.timeout_ms as number,
    handlerConfig: row.handler_config as Record<string, unknown>,
    context: row.context,
    correlationId: row.correlation_id as string,
    namespace: row.namespace as string,
    priority: row.priority as number,
    taskName: row.task_name as string,
    taskVersion: row.task_version as string,
    parentResults: row.parent_results as Record<string, unknown>,
    startedAt: row.started_at as Date,
    probe: row.probe as boolean,
    traceContext: row.trace_context as string | null,
    fallback: row.fallback as boolean,
    publishes: (row.publishes as PublishedEvent[] | null) ?? [],
    type: (row.type as string | null) ?? null,
    decides: (row.decides as string[] | null) ?? [],
    batch: claimedBatch(row),
  };
}

function claimedBatch(row: Record<string, unknown>): ClaimedBatch | null {
  if (row.batch_index === null || row.batch_index === undefined) return null;
  const checkpoint = row.batch_checkpoint as { cursor: unknown; partial: unknown } | null;
  return {
    index: row.batch_index as number,
    cursor: row.batch_cursor ?? null,
    checkpoint: checkpoint
      ? { cursor: checkpoint.cursor ?? null, partial: checkpoint.partial ?? null }
      : null,
  };
}

/** Why a claim was refused; only read on the (rare) miss path, for logging and re-delay. */
export type ClaimMiss =
  | { reason: 'not_found' }
  | { reason: 'not_due'; dueInMs: number }
  | { reason: 'task_not_running'; taskStatus: string }
  /**
   * Claimable by this attempt, yet the plain claim did not take it: its service's breaker blocks
   * it, or its system has a limit in force (the limited claim admits it), or it became claimable
   * since. Its delivery is what brings it to the right claim.
   */
  | { reason: 'not_admitted' }
  | { reason: 'stale'; status: string; attempts: number };

export async function explainClaimMiss(db: Queryable, stepId: string, attempt: number): Promise<ClaimMiss> {
  const { rows } = await db.query(
    `SELECT s.status, s.attempts, t.status AS task_status,
            GREATEST(0, ceil(extract(epoch FROM s.next_attempt_at - clock_timestamp()) * 1000))::int AS due_in_ms
       FROM workflow_steps s JOIN tasks t ON t.id = s.task_id WHERE s.id = $1`,
    [stepId],
  );
  const row = rows[0];
  if (!row) return { reason: 'not_found' };
  const claimable =
    row.attempts === attemptsBefore(attempt) && ['enqueued', 'waiting_retry'].includes(row.status);
  if (claimable && !['pending', 'in_progress'].includes(row.task_status)) {
    return { reason: 'task_not_running', taskStatus: row.task_status };
  }
  if (claimable && row.due_in_ms > 0) return { reason: 'not_due', dueInMs: row.due_in_ms };
  if (claimable) return { reason: 'not_admitted' };
  return { reason: 'stale', status: row.status, attempts: row.attempts };
}

const RENEW_LEASE_SQL = `
WITH request AS (
  SELECT $1::uuid AS step_id, $2::int AS attempt, $3::text AS worker_id, $4::int AS lease_ms
)
UPDATE workflow_steps s
   SET lease_expires_at = clock_timestamp() + GREATEST(r.lease_ms, s.timeout_ms) * interval '1 millisecond'
  FROM request r
 WHERE s.id = r.step_id AND ${heldByClaimerSql('s', 'r.attempt', 'r.worker_id')}`;

/**
 * Extends the lease of a running attempt (by `leaseMs`, or the step's timeout if longer). Returns false when the attempt no longer holds its
 * fence (cancelled, released, or its lease expired and the step was dispatched again): the
 * worker must then abort the handler.
 */
export async function renewStepLease(
  db: Queryable,
  input: { stepId: string; attempt: number; workerId: string; leaseMs: number },
): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'switchyard_renew_lease',
    text: RENEW_LEASE_SQL,
    values: [input.stepId, input.attempt, input.workerId, input.leaseMs],
  });
  return rowCount === 1;
}
