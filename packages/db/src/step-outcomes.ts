/**
 * Recording an attempt's outcome: one transaction that writes the attempt row, moves the step,
 * makes its children ready, keeps the breaker of its service current and finalizes the task
 * when nothing of it is left to run. Only the claimer of the attempt may record it (the fence,
 * see attempt-fence.ts); anything else is kept as a stale attempt and changes nothing.
 */
import {
  type AttemptOutcome,
  countsAgainstService,
  holdsAfterFailure,
  nextAttempt,
  serviceHoldUntil,
} from '@switchyard/core';
import type pg from 'pg';
import { heldByClaimerSql } from './attempt-fence.ts';
import { type BreakerTransition, evaluateBreaker } from './breaker-state.ts';
import { READY_STEPS_JSON, type ReadyStep, readyChildrenCtes } from './ready-children.ts';
import {
  CLAIMED_STEP_JOINS,
  type ClaimedStep,
  claimedStepColumns,
  claimedStepFromJson,
} from './step-attempts.ts';
import { holdBlockedStep, holdServiceUntil } from './step-holds.ts';
import { finalizeAfterCommit, finalizeTaskIfDone, type TaskFinalization } from './task-finalization.ts';
import { withRetries, withTransaction } from './transaction.ts';

/** An attempt's identity and timing, common to every outcome. */
export type AttemptRecord = {
  stepId: string;
  taskId: string;
  attempt: number;
  workerId: string;
  dependentSystem: string;
  startedAt: Date;
  finishedAt: Date;
  /** The attempt was a half-open probe of its service's breaker. */
  probe: boolean;
  /** The attempt ran the handler's fallback instead of calling the service. */
  fallback: boolean;
  /** False when the handler answered without calling its service (default: it called it). */
  called?: boolean;
};

export type OutcomeResult = {
  /** False when the fence rejected the outcome: it was recorded as stale and changed nothing. */
  applied: boolean;
  ready: ReadyStep[];
  /** Children claimed for the worker in the same statement (see ChildClaimRoom): it must run them. */
  claimed: ClaimedStep[];
  /** Set when the step waits for a retry: dispatch `attempt` with this delay after commit. */
  retry: { attempt: number; delayMs: number } | null;
  task: TaskFinalization | null;
  /** The step went to `held`: its service's breaker is open, so the failure was not counted. */
  held: boolean;
  /** A breaker state change this outcome caused (a trip, a reopen, a close after probes). */
  breaker: BreakerTransition | null;
};

/**
 * A named prepared statement: parsed once per connection; planned every 2 s on a pool with
 * generic plans (pool.ts), otherwise as Postgres's plan cache decides (see step-attempts.ts).
 */
function prepared(name: string, text: string, values: unknown[]) {
  return { name, text, values };
}

function nothing(): Omit<OutcomeResult, 'applied'> {
  return { ready: [], claimed: [], retry: null, task: null, held: false, breaker: null };
}

/** A handler's domain event, committed with its attempt's outcome (see eventsToPublish in core). */
export type EventToCommit = { type: string; namespace: string; correlationId: string; data: unknown };

/**
 * SQL inserting the events of the request rows `r` that `applied` (rows with `id`) names: each
 * row's `events` is a JSON array of EventToCommit. A stale attempt therefore commits none.
 */
function insertPublishedEvents(applied: string): string {
  return `INSERT INTO events (type, namespace, task_id, correlation_id, data)
  SELECT e->>'type', e->>'namespace', r.task_id, e->>'correlationId', e->'data'
    FROM request r JOIN ${applied} a ON a.id = r.step_id CROSS JOIN LATERAL jsonb_array_elements(r.events) e`;
}

/**
 * SQL: where a result's attempt already has its row. A late result of an attempt whose lease the
 * scheduler took back finds the row it wrote (`lease_expired`): the result is recorded on it,
 * stale, with what it says (outcome, error, when it finished), and `error_class` stays
 * `LeaseExpired` to say why it is stale. It changes no state (the fence refused it). Any other
 * row is the attempt's own outcome, already recorded: a duplicate changes nothing.
 */
const LATE_RESULT_ON_EXPIRED_LEASE = `ON CONFLICT (step_id, attempt) DO UPDATE
     SET outcome = EXCLUDED.outcome, error_code = EXCLUDED.error_code,
         error_message = COALESCE(EXCLUDED.error_message, step_attempts.error_message),
         http_status = EXCLUDED.http_status, retry_after_ms = EXCLUDED.retry_after_ms,
         finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms, stale = true
   WHERE step_attempts.outcome = 'lease_expired' AND EXCLUDED.stale`;

const SUCCESS_SQL = `
WITH request AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::jsonb[], $5::text[], $6::timestamptz[],
                       $7::timestamptz[], $8::int[], $9::boolean[], $11::jsonb[], $12::boolean[], $13::boolean[])
    AS r(step_id, attempt, task_id, results, dependent_system, started_at, finished_at, duration_ms, fallback,
         events, called, continues)
), offer AS (
  SELECT * FROM unnest($14::text[], $15::int[], $16::int[]) AS o(handler, room, lease_ms)
), done AS (
  UPDATE workflow_steps s
     SET status = 'complete', results = r.results, completed_at = clock_timestamp(), updated_at = clock_timestamp(),
         claimed_by = NULL, lease_expires_at = NULL, next_attempt_at = NULL, last_error = NULL
    FROM request r
   -- By primary key from the request, never by a status index (see the claim in step-attempts.ts).
   WHERE s.id = r.step_id AND ${heldByClaimerSql('s', 'r.attempt', '$10')}
  RETURNING s.id, s.task_id, s.attempts, s.results
), continuing AS (
  SELECT d.id FROM done d JOIN request r ON r.step_id = d.id WHERE r.continues
), attempt AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome,
                             started_at, finished_at, duration_ms, fallback, stale, called)
  SELECT r.step_id, r.task_id, r.attempt, r.dependent_system, $10, 'success', r.started_at, r.finished_at,
         r.duration_ms, r.fallback, NOT EXISTS (SELECT 1 FROM done d WHERE d.id = r.step_id), r.called
    FROM request r
  ${LATE_RESULT_ON_EXPIRED_LEASE}
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
  SELECT id, task_id, attempts, 'in_progress', 'complete', $10 FROM done
), published AS (
  ${insertPublishedEvents('done')}
), ${readyChildrenCtes('done', '$10', { continuing: 'continuing', offer: 'offer' })}
SELECT COALESCE((SELECT array_agg(id || '.' || attempts) FROM done), '{}') AS applied,
       ${READY_STEPS_JSON} AS ready,
       COALESCE((SELECT json_agg(claimed) FROM (
         -- The parents recorded here are read from done: the table shows this statement nothing it wrote.
         SELECT ${claimedStepColumns('c', 'cc')},
                COALESCE((SELECT jsonb_object_agg(p.name, COALESCE(d.results, p.results))
                            FROM workflow_step_edges e JOIN workflow_steps p ON p.id = e.from_step_id
                            LEFT JOIN done d ON d.id = p.id
                           WHERE e.to_step_id = c.id), '{}'::jsonb) AS parent_results
           FROM (SELECT id, attempts, started_at, false AS fallback, false AS was_limited FROM claimed_children) cc
           JOIN workflow_steps c ON c.id = cc.id
           ${CLAIMED_STEP_JOINS}) claimed), '[]'::json) AS claimed`;

/**
 * A successful attempt to record, with the handler's results and the events it publishes.
 * `continues`: the children it makes ready may be claimed for its worker (see ChildClaimRoom).
 */
export type StepSuccess = {
  record: AttemptRecord;
  results: unknown;
  events?: EventToCommit[];
  continues?: boolean;
};

/**
 * Slots a worker holds free for the children its successes make ready: the success statement
 * claims for it, in the update that makes them ready, up to `room` children of step type
 * `handler` with a lease of `leaseMs` (or their timeout if longer), among the children of
 * successes that `continue` (see readyChildrenCtes for which children it takes).
 */
export type ChildClaimRoom = { handler: string; room: number; leaseMs: number };

/**
 * The statement recording successful attempts (see recordStepSuccesses), for a caller that runs
 * it inside its own transaction (batch-steps.ts). Its one row has `applied` (`<stepId>.<attempt>`
 * of each success the fence let through), `ready` (ReadyStep[]) and `claimed` (the children it
 * claimed for the worker, as JSON rows for claimedStepFromJson).
 */
export function stepSuccessesQuery(
  workerId: string,
  successes: StepSuccess[],
  rooms: readonly ChildClaimRoom[] = [],
) {
  const records = successes.map((s) => s.record);
  const values = [
    records.map((r) => r.stepId),
    records.map((r) => r.attempt),
    records.map((r) => r.taskId),
    successes.map((s) => JSON.stringify(s.results ?? null)),
    records.map((r) => r.dependentSystem),
    records.map((r) => r.startedAt),
    records.map((r) => r.finishedAt),
    records.map(durationMs),
    records.map((r) => r.fallback),
    workerId,
    successes.map((s) => JSON.stringify(s.events ?? [])),
    records.map((r) => r.called ?? true),
    successes.map((s) => s.continues ?? false),
    rooms.map((r) => r.handler),
    rooms.map((r) => r.room),
    rooms.map((r) => r.leaseMs),
  ];
  return prepared('switchyard_step_successes', SUCCESS_SQL, values);
}

/**
 * Records successful attempts of one worker and makes the children whose parents are now all
 * satisfied ready (`enqueued`), in one statement (atomic on its own, so no explicit
 * transaction: one round trip and one commit for the whole batch). Each attempt is judged by
 * the fence on its own. Then finalizes the tasks of which nothing is left in flight (see
 * finalizeAfterCommit), and re-decides the breaker after a probe. If the process dies in
 * between, the scheduler finalizes the settled task.
 *
 * With `rooms`, the children the successes make ready are claimed for the worker up to the room
 * it has for them (see ChildClaimRoom); the worker must run each one it gets (`claimed`).
 *
 * Returns one result per success, in order. The children a batch made ready or claimed are
 * reported with the first applied success of their task, and so is the task's finalization.
 * Locks: the steps' rows and their children's rows; then the tasks' rows (finalizing) or the
 * breaker row.
 */
export async function recordStepSuccesses(
  pool: pg.Pool,
  workerId: string,
  successes: StepSuccess[],
  rooms: readonly ChildClaimRoom[] = [],
): Promise<OutcomeResult[]> {
  if (successes.length === 0) return [];
  const records = successes.map((s) => s.record);
  const { rows } = await withRetries(() => pool.query(stepSuccessesQuery(workerId, successes, rooms)));
  const applied = new Set(rows[0].applied as string[]);
  const isApplied = (r: AttemptRecord) => applied.has(`${r.stepId}.${r.attempt}`);
  const readyByTask = byTask(rows[0].ready as ReadyStep[]);
  const claimedByTask = byTask((rows[0].claimed as Record<string, unknown>[]).map(claimedStepFromJson));
  // A task with a child made ready or claimed still has work in flight: no need to look at it.
  const settledTasks = new Set(
    records
      .filter((r) => isApplied(r) && !readyByTask.has(r.taskId) && !claimedByTask.has(r.taskId))
      .map((r) => r.taskId),
  );
  const finalized = await finalizeAfterCommit(pool, [...settledTasks], workerId);
  const reported = new Set<string>();
  const outcomes: OutcomeResult[] = [];
  for (const record of records) {
    // The first applied success of a task carries what the batch did to the task.
    const first = isApplied(record) && !reported.has(record.taskId);
    if (first) reported.add(record.taskId);
    const breaker = await breakerAfterProbe(pool, record, workerId);
    outcomes.push({
      ...nothing(),
      applied: isApplied(record),
      ready: first ? (readyByTask.get(record.taskId) ?? []) : [],
      claimed: first ? (claimedByTask.get(record.taskId) ?? []) : [],
      task: first ? (finalized.get(record.taskId) ?? null) : null,
      breaker,
    });
  }
  return outcomes;
}

/** `steps` grouped by their task, in order. */
function byTask<T extends { taskId: string }>(steps: T[]): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const step of steps) {
    const ofTask = grouped.get(step.taskId);
    if (ofTask) ofTask.push(step);
    else grouped.set(step.taskId, [step]);
  }
  return grouped;
}

/** A probe's success may close its breaker: deciding at once releases the held steps sooner. */
export async function breakerAfterProbe(
  pool: pg.Pool,
  record: AttemptRecord,
  actor: string,
): Promise<BreakerTransition | null> {
  if (!record.probe) return null;
  const decided = await withTransaction(pool, (client) =>
    evaluateBreaker(client, { dependentSystem: record.dependentSystem, actor }),
  );
  return decided.transition;
}

/** How a failed attempt was classified, and what the retry policy decided. */
export type AttemptFailure = {
  outcome: Extract<AttemptOutcome, 'retryable_error' | 'permanent_error' | 'timeout' | 'aborted'>;
  errorClass: string;
  errorCode: string | null;
  message: string;
  httpStatus: number | null;
  retryAfterMs: number | null;
  /** waiting_retry with the delay before the next attempt, or error (no more attempts). */
  next: { status: 'waiting_retry'; delayMs: number } | { status: 'error'; reason: string };
};

const FAILURE_SQL = `
WITH request AS (
  SELECT $1::uuid AS step_id, $2::int AS attempt, $3::text AS worker_id, $4::uuid AS task_id,
         $5::text AS next_status, $6::jsonb AS last_error, $7::float8 AS retry_delay_ms, $8::text AS dependent_system,
         $9::text AS outcome, $10::text AS error_class, $11::text AS error_code, $12::text AS error_message,
         $13::int AS http_status, $14::int AS retry_after_ms, $15::timestamptz AS started_at,
         $16::timestamptz AS finished_at, $17::int AS duration_ms, $18::text AS reason, $19::boolean AS fallback
), failed AS (
  UPDATE workflow_steps s
     SET status = r.next_status, last_error = r.last_error, claimed_by = NULL, lease_expires_at = NULL,
         updated_at = clock_timestamp(),
         next_attempt_at = CASE WHEN r.next_status = 'waiting_retry'
                                THEN clock_timestamp() + r.retry_delay_ms * interval '1 millisecond' END,
         completed_at = CASE WHEN r.next_status = 'error' THEN clock_timestamp() END
    FROM request r
   WHERE s.id = r.step_id AND ${heldByClaimerSql('s', 'r.attempt', 'r.worker_id')}
  RETURNING s.id, s.task_id
), attempt AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, error_class,
                             error_code, error_message, http_status, retry_after_ms,
                             started_at, finished_at, duration_ms, fallback, stale)
  SELECT r.step_id, r.task_id, r.attempt, r.dependent_system, r.worker_id, r.outcome, r.error_class,
         r.error_code, r.error_message, r.http_status, r.retry_after_ms,
         r.started_at, r.finished_at, r.duration_ms, r.fallback, NOT EXISTS (SELECT 1 FROM failed)
    FROM request r
  ${LATE_RESULT_ON_EXPIRED_LEASE}
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT f.id, f.task_id, r.attempt, 'in_progress', r.next_status, r.reason, r.worker_id FROM failed f, request r
)
SELECT EXISTS (SELECT 1 FROM failed) AS applied`;

/**
 * The events a failed attempt publishes: which apply depends on whether the step failed for
 * good, known only once the breaker has been consulted (a held step runs again).
 */
export type FailureEvents = { ifFinal: EventToCommit[]; otherwise: EventToCommit[] };

async function commitEvents(client: pg.PoolClient, taskId: string, events: EventToCommit[]): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `INSERT INTO events (type, namespace, task_id, correlation_id, data)
     SELECT e->>'type', e->>'namespace', $1, e->>'correlationId', e->'data' FROM jsonb_array_elements($2::jsonb) e`,
    [taskId, JSON.stringify(events)],
  );
}

/**
 * Records a failed attempt: the step waits for its retry, or fails for good (and the task is
 * finalized as error once nothing else of it is in flight), with the events it publishes.
 * Locks: the step row, and the task row when the step failed for good.
 */
export async function recordStepFailure(
  client: pg.PoolClient,
  record: AttemptRecord,
  failure: AttemptFailure,
  events: FailureEvents = { ifFinal: [], otherwise: [] },
): Promise<OutcomeResult> {
  const delayMs = failure.next.status === 'waiting_retry' ? failure.next.delayMs : 0;
  const reason =
    failure.next.status === 'error' ? failure.next.reason : `${failure.outcome}, retry in ${delayMs} ms`;
  const lastError = {
    outcome: failure.outcome,
    class: failure.errorClass,
    code: failure.errorCode,
    message: failure.message,
    http_status: failure.httpStatus,
    attempt: record.attempt,
  };
  const { rows } = await client.query(
    prepared('switchyard_step_failure', FAILURE_SQL, [
      record.stepId,
      record.attempt,
      record.workerId,
      record.taskId,
      failure.next.status,
      JSON.stringify(lastError),
      delayMs,
      record.dependentSystem,
      failure.outcome,
      failure.errorClass,
      failure.errorCode,
      failure.message,
      failure.httpStatus,
      failure.retryAfterMs,
      record.startedAt,
      record.finishedAt,
      durationMs(record),
      reason,
      record.fallback,
    ]),
  );
  if (!rows[0].applied) return { ...nothing(), applied: false };
  const { held, breaker } = await applyToBreaker(client, record, failure);
  // The step fails for good only when it is neither retried nor held (a held step runs again).
  const final = !held && failure.next.status === 'error';
  await commitEvents(client, record.taskId, final ? events.ifFinal : events.otherwise);
  if (held) return { ...nothing(), applied: true, held, breaker };
  if (failure.next.status === 'waiting_retry') {
    return { ...nothing(), applied: true, retry: { attempt: nextAttempt(record.attempt), delayMs }, breaker };
  }
  const task = await finalizeTaskIfDone(client, record.taskId, record.workerId);
  return { ...nothing(), applied: true, task, breaker };
}

/**
 * Applies core's hold policy to a failed attempt. A failure that counts against its service is
 * evidence for the breaker: a 429/503 Retry-After holds the whole service until then, and the
 * breaker is re-decided now, so a trip stops further calls at once. While the breaker is not
 * closed the failed step is held rather than retried, and the attempt is given back.
 */
async function applyToBreaker(
  client: pg.PoolClient,
  record: AttemptRecord,
  failure: AttemptFailure,
): Promise<{ held: boolean; breaker: BreakerTransition | null }> {
  if (!countsAgainstService({ outcome: failure.outcome, fallback: record.fallback })) {
    return { held: false, breaker: null };
  }
  const system = record.dependentSystem;
  const holdUntil = serviceHoldUntil(failure, record.finishedAt);
  if (holdUntil) await holdServiceUntil(client, system, holdUntil);
  const { state, transition } = await evaluateBreaker(client, {
    dependentSystem: system,
    actor: record.workerId,
  });
  if (!holdsAfterFailure(state)) return { held: false, breaker: transition };
  const held = await holdBlockedStep(client, {
    stepId: record.stepId,
    attempts: record.attempt,
    point: 'after_failure',
    actor: record.workerId,
  });
  return { held, breaker: transition };
}

function durationMs(record: AttemptRecord): number {
  return Math.max(0, Math.round(record.finishedAt.getTime() - record.startedAt.getTime()));
}
