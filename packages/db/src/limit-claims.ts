/**
 * The bulkhead at the claim: a delivery of a step whose system has a limit in force is claimed
 * here, under the lock of the system's service_limits row, or held (no attempt used) until a
 * slot or a token frees; and waiting steps are released when capacity frees, shared across
 * namespaces by weight and by task priority within one (LIMIT_RELEASE_SQL).
 *
 * Counting under the lock needs a snapshot taken after the lock was granted: a statement's own
 * snapshot is taken when it starts, so a claim that waited for the row lock would count the calls
 * in flight as they were before the claim it waited for committed, and both would take the last
 * slot. The claim reads its counts through switchyard_limit_usage (a VOLATILE function takes a
 * new snapshot per query), one round trip; the release locks in one statement and counts in the
 * next (READ COMMITTED takes a new snapshot per statement).
 */
import {
  decideLimitRelease,
  type LimitHoldReason,
  type LimitUsage,
  refillTokens,
  type ServiceLimit,
} from '@switchyard/core';
import { BLOCKED_BY_BREAKER } from './breaker-sql.ts';
import type { Pool, Queryable } from './pool.ts';
import type { ReadyStep } from './ready-children.ts';
import {
  LIMIT_HELD_SQL,
  LIMIT_IN_FORCE,
  LIMIT_REASONS,
  LIMIT_RELEASE_SQL,
  LIMIT_USAGE_SQL,
} from './service-limit-sql.ts';
import { type ClaimedStep, type ClaimRequest, LIMITED_CLAIM_SQL, matchClaims } from './step-attempts.ts';

/** What became of a delivery tried against its system's limit. */
export type LimitedClaim =
  /** `limited`: its system has a limit in force (a step of another system is claimed as by the plain claim). */
  | { kind: 'claimed'; step: ClaimedStep; limited: boolean }
  | { kind: 'held'; reason: LimitHoldReason }
  /** Not limited, or not claimable (stale, not due, breaker): the ordinary miss path decides. */
  | { kind: 'missed' };

/**
 * Claims deliveries that the plain claim skipped because their system is limited, in one
 * statement (LIMITED_CLAIM_SQL): it locks the limit rows of their systems, claims those the
 * limits admit and holds the rest with reason `concurrency` or `rate` (LIMIT_ADMISSION_CTES).
 * Deliveries of systems without a limit are claimed as by the plain claim (a worker sends a step
 * type it has seen limited here directly).
 * Locks: the service_limits rows, then the step rows (and a task row on its first claim).
 * Returns one entry per request, in order.
 */
export async function claimLimitedStepAttempts(
  pool: Pool,
  workerId: string,
  requests: ClaimRequest[],
): Promise<LimitedClaim[]> {
  if (requests.length === 0) return [];
  const { rows } = await pool.query({
    name: 'switchyard_claim_limited_steps',
    text: LIMITED_CLAIM_SQL,
    values: [
      requests.map((r) => r.stepId),
      requests.map((r) => r.attempt),
      requests.map((r) => r.leaseMs),
      workerId,
    ],
  });
  const claims = matchClaims(requests, rows);
  const limited = new Set(rows.filter((row) => row.was_limited).map((row) => row.id as string));
  const unclaimed = requests.filter((_, i) => claims[i] === null).map((r) => r.stepId);
  const held = unclaimed.length === 0 ? [] : (await pool.query(LIMIT_HELD_SQL, [unclaimed])).rows;
  const reasons = new Map(held.map((row) => [row.id as string, row.reason as LimitHoldReason]));
  return requests.map((r, i): LimitedClaim => {
    const step = claims[i];
    if (step) return { kind: 'claimed', step, limited: limited.has(step.id) };
    const reason = reasons.get(r.stepId);
    return reason ? { kind: 'held', reason } : { kind: 'missed' };
  });
}

/** A released step to dispatch after commit, with the delay until its token is due and its task's namespace and priority. */
export type ReleasedStep = ReadyStep & { delayMs: number; namespace: string; priority: number };

/** Weights by which namespaces share a limited system's releases (SWITCHYARD_NAMESPACE_WEIGHTS); default 1 each. */
export type NamespaceWeights = Readonly<Record<string, number>>;

/** The weights as LIMIT_RELEASE_SQL's `$7`: only positive ones (any other weighs 1, as in the queues). */
function weightsParam(weights: NamespaceWeights | undefined): string {
  return JSON.stringify(Object.fromEntries(Object.entries(weights ?? {}).filter(([, w]) => w > 0)));
}

/**
 * Releases the steps of `system` waiting for its limit that the freed capacity admits (core's
 * decideLimitRelease), fairly across namespaces by `namespaceWeights` and by task priority within
 * one, then oldest first (LIMIT_RELEASE_SQL). Run in a transaction: locks the
 * system's limit row, then counts in a statement of its own (see the file's header), then locks
 * the released steps (SKIP LOCKED). Returns the steps to dispatch after commit. A system with no
 * limit in force any more has its waiting steps released (a page at a time).
 * `horizonMs`: a token due later than this is left to the next release (a sweep's interval).
 */
export async function releaseLimitWaiters(
  db: Queryable,
  input: {
    dependentSystem: string;
    actor: string;
    horizonMs: number;
    now?: Date;
    namespaceWeights?: NamespaceWeights;
  },
): Promise<ReleasedStep[]> {
  const lock = await db.query(
    `SELECT ${LIMIT_IN_FORCE} AS in_force FROM service_limits l WHERE l.dependent_system = $1 FOR UPDATE`,
    [input.dependentSystem],
  );
  if (lock.rows[0]?.in_force !== true) return releaseUnlimited(db, input);
  const { rows } = await db.query(LIMIT_USAGE_SQL, [input.dependentSystem]);
  const row = rows[0];
  if (!row || row.waiting === 0) return [];
  const limit: ServiceLimit = { maxConcurrent: row.maxConcurrent, rate: row.rate, burst: row.burst };
  const usage: LimitUsage = {
    inFlight: row.inFlight,
    reserved: row.reserved,
    waiting: row.waiting,
    tokens: row.tokens,
    refilledAt: row.refilledAt,
  };
  const now: Date = input.now ?? row.now;
  const delays = decideLimitRelease(limit, usage, now, input.horizonMs);
  if (delays.length === 0) return [];
  const reason = limit.rate === null ? 'concurrency slot freed' : 'slot free and rate token due';
  const tokens = limit.rate === null ? null : refillTokens(limit, usage, now);
  const released = await db.query(LIMIT_RELEASE_SQL, [
    input.dependentSystem,
    delays,
    reason,
    input.actor,
    tokens,
    now,
    weightsParam(input.namespaceWeights),
  ]);
  return released.rows as ReleasedStep[];
}

/**
 * Whether any step of `system` waits for its limit; read without a lock. A worker asks before
 * releasing (most finishes free a slot nobody waits for); a hold that commits just after the
 * answer is released by the scheduler's next sweep.
 */
export async function hasLimitWaiters(db: Queryable, system: string): Promise<boolean> {
  const { rows } = await db.query({
    name: 'switchyard_limit_waiters',
    text: `SELECT EXISTS (SELECT 1 FROM workflow_steps s
                          WHERE s.dependent_system = $1 AND s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS}) AS waiting`,
    values: [system],
  });
  return rows[0].waiting === true;
}

// Waiting steps of a system whose limit was removed are released in pages, a page per sweep.
const UNLIMITED_RELEASE_PAGE = 500;

/** A system whose limit was removed (configuration or override) while steps waited: release them. */
async function releaseUnlimited(
  db: Queryable,
  input: { dependentSystem: string; actor: string; namespaceWeights?: NamespaceWeights },
): Promise<ReleasedStep[]> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS waiting FROM (
       SELECT 1 FROM workflow_steps s
        WHERE s.dependent_system = $1 AND s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS} LIMIT $2) w`,
    [input.dependentSystem, UNLIMITED_RELEASE_PAGE],
  );
  if (rows[0].waiting === 0) return [];
  const delays = new Array<number>(rows[0].waiting).fill(0);
  const released = await db.query(LIMIT_RELEASE_SQL, [
    input.dependentSystem,
    delays,
    'limit removed',
    input.actor,
    null,
    new Date(),
    weightsParam(input.namespaceWeights),
  ]);
  return released.rows as ReleasedStep[];
}

/**
 * Systems with steps waiting for a limit: what a sweep releases (a system whose limit was
 * removed included: its waiting steps are released).
 */
export async function systemsWithLimitWaiters(db: Queryable): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT DISTINCT s.dependent_system FROM workflow_steps s
      WHERE s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS}
      ORDER BY s.dependent_system`,
  );
  return rows.map((row) => row.dependent_system as string);
}

/**
 * Steps of `system` held by its limit that would run their handler's fallback if delivered now
 * (`on_breaker_open: fallback`, and the system's breaker blocks them): a fallback does not call
 * the service, so no limit holds it. Each is enqueued again, to be dispatched after commit,
 * without keeping its place (`waiting_since` cleared: it reserves no slot); if the breaker closes
 * before it is claimed, the limit judges it as a fresh delivery. Locks: the released step rows.
 */
export async function releaseLimitWaitersToFallback(
  db: Queryable,
  input: { dependentSystem: string; actor: string },
): Promise<ReleasedStep[]> {
  const { rows } = await db.query(
    `WITH released AS (
       UPDATE workflow_steps s
          SET status = 'enqueued', hold_reason = NULL, hold_until = NULL, waiting_since = NULL,
              next_attempt_at = NULL, enqueued_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM circuit_breakers b, tasks t, named_tasks nt, namespaces ns
        WHERE s.dependent_system = $1 AND s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS}
          AND s.on_breaker_open = 'fallback' AND b.dependent_system = s.dependent_system AND ${BLOCKED_BY_BREAKER}
          AND t.id = s.task_id AND nt.id = t.named_task_id AND ns.id = nt.namespace_id
       RETURNING s.id, s.task_id, s.handler, s.attempts, ns.name AS namespace, t.priority
     ), transitions AS (
       INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
       SELECT id, task_id, 'held', 'enqueued', 'breaker open: runs its fallback, which no limit holds', $2 FROM released
     )
     SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt, 0 AS "delayMs",
            namespace, priority FROM released`,
    [input.dependentSystem, input.actor],
  );
  return rows as ReleasedStep[];
}
