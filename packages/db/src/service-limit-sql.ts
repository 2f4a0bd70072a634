/**
 * @switchyard/core's bulkhead rules (service-limits.ts) rendered in SQL for the statements that
 * decide inside Postgres: the limited claim's admission, bucket and holds, and the order waiting
 * steps are released in. Each counts under the lock of the system's service_limits row with a
 * snapshot taken after the lock was granted (limit-claims.ts says why), so its counts see every
 * claim committed before it.
 */
import { LIMIT_HOLD_REASONS } from '@switchyard/core';
import { claimableBySql } from './attempt-fence.ts';
import { sqlList } from './breaker-sql.ts';

/** SQL predicate: the service_limits row `l` limits its system (a row may remain with neither). */
export const LIMIT_IN_FORCE = '(l.max_concurrent IS NOT NULL OR l.rate_per_second IS NOT NULL)';

/** The hold reasons of steps waiting for a limit, as a SQL list. */
export const LIMIT_REASONS = sqlList(LIMIT_HOLD_REASONS);

/**
 * The order waiting steps of a system are released in, over the CTE `ranked` of
 * LIMIT_RELEASE_SQL: the smallest virtual finish first (fair across namespaces by weight), then
 * the higher task priority, then the longest waiting (`waiting_since` is kept from a step's
 * first hold until it is claimed, so a step held again keeps its place).
 */
export const LIMIT_RELEASE_ORDER = 'r.finish, r.priority DESC, r.waiting_since, r.id';

/**
 * SQL: the calls of `l`'s system in flight: its steps in_progress under a lease that has not
 * expired, but for those running their fallback (they do not call the service). A dead worker's
 * step stops counting when its lease ends, before the scheduler takes it back. Served by the
 * (dependent_system, status) index. switchyard_limit_usage (the migrations) counts the same.
 */
const IN_FLIGHT = `(SELECT count(*)::int FROM workflow_steps x
    WHERE x.dependent_system = l.dependent_system AND x.status = 'in_progress' AND x.lease_expires_at > c.now
      AND NOT x.claimed_for_fallback)`;

/** SQL: released steps of `l`'s system not claimed yet; each will take a slot and a token. */
const RESERVED = `(SELECT count(*)::int FROM workflow_steps x
    WHERE x.dependent_system = l.dependent_system AND x.status = 'enqueued' AND x.waiting_since IS NOT NULL)`;

/** SQL: steps of `l`'s system held by its limit. */
const WAITING = `(SELECT count(*)::int FROM workflow_steps x
    WHERE x.dependent_system = l.dependent_system AND x.status = 'held' AND x.hold_reason IN ${LIMIT_REASONS})`;

/** SQL: the bucket's tokens at `c.now` (core's refillTokens), or null without a rate. */
const TOKENS_NOW = `CASE WHEN l.rate_per_second IS NULL THEN NULL
    ELSE LEAST(l.burst, l.tokens + l.rate_per_second * GREATEST(0, extract(epoch FROM c.now - l.refilled_at))) END`;

/**
 * CTE `limits`: the usage of each system (`systems` is a SQL expression yielding their names),
 * with `now` fixed once as `clock`; for a caller that locked the limit rows in an earlier
 * statement of its transaction.
 */
function limitUsageCtes(systems: string): string {
  return `clock AS MATERIALIZED (
  SELECT clock_timestamp() AS now
), limits AS MATERIALIZED (
  SELECT l.dependent_system, l.max_concurrent, l.rate_per_second, l.refilled_at, ${TOKENS_NOW} AS tokens,
         ${IN_FLIGHT} AS in_flight, ${RESERVED} AS reserved, ${WAITING} AS waiting
    FROM service_limits l, clock c
   WHERE l.dependent_system IN (${systems}) AND ${LIMIT_IN_FORCE}
), `;
}

/**
 * CTEs of the limited claim (claimSql('limited') in step-attempts.ts), after `request` and
 * `previous`, in one statement: lock the limit rows of the systems the deliveries call (in name
 * order, so two claimers cannot deadlock), then read each system's usage through
 * switchyard_limit_usage, whose fresh snapshot sees every claim committed before the lock was
 * granted (the migration says why), then judge each claimable delivery of a limited system
 * (but for a fallback: claimed while the breaker is open, it does not call the service and is
 * claimed outside the limit):
 * - a released step (waiting_since set) takes the slot its release reserved; its token was taken
 *   by the release itself (the bucket may go below zero: tokens promised to released steps not
 *   yet due), so a released step that arrives late costs the rate nothing;
 * - a fresh delivery is admitted only when nobody waits and a slot beyond the reserved ones and a
 *   token are left, so it never overtakes a waiting step.
 * Rank: the deliveries' order in the request. `verdicts.reason` is null for an admitted delivery,
 * else the hold reason: `concurrency` (slots taken or reserved) or `rate` (no token), with
 * `until` the time the next token is due.
 */
export const LIMIT_ADMISSION_CTES = `clock AS MATERIALIZED (
  SELECT clock_timestamp() AS now
), locked AS MATERIALIZED (
  SELECT l.* FROM service_limits l
   WHERE l.dependent_system IN (SELECT dependent_system FROM previous WHERE limited) AND ${LIMIT_IN_FORCE}
   ORDER BY l.dependent_system FOR UPDATE
), limits AS MATERIALIZED (
  SELECT l.dependent_system, l.max_concurrent, l.rate_per_second, l.refilled_at, ${TOKENS_NOW} AS tokens,
         u.in_flight, u.reserved, u.waiters
    FROM locked l CROSS JOIN clock c CROSS JOIN LATERAL switchyard_limit_usage(l.dependent_system, c.now) u
), candidates AS (
  SELECT p.id, p.status AS from_status, p.dependent_system, p.released, p.blocked,
         row_number() OVER (PARTITION BY p.dependent_system, p.released ORDER BY r.ord) AS rank
    FROM previous p JOIN request r ON r.step_id = p.id
    JOIN workflow_steps s ON s.id = p.id JOIN tasks t ON t.id = s.task_id
   WHERE p.limited AND ${claimableBySql('s', 'r.attempt')}
     AND (s.status IN ('enqueued', 'waiting_retry')) IS TRUE
     AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= clock_timestamp())
     AND (t.status IN ('pending', 'in_progress')) IS TRUE
     AND NOT p.blocked
), judged AS (
  SELECT c.id, c.from_status, l.max_concurrent, l.in_flight, l.reserved, l.tokens, l.rate_per_second,
         (l.max_concurrent IS NULL
          OR c.rank <= l.max_concurrent - l.in_flight - CASE WHEN c.released THEN 0 ELSE l.reserved END) AS slot_free,
         (c.released OR l.tokens IS NULL OR c.rank <= l.tokens) AS token_free,
         (c.released OR NOT l.waiters) AS nobody_waits
    FROM candidates c JOIN limits l ON l.dependent_system = c.dependent_system
), verdicts AS (
  SELECT j.id, j.from_status,
         CASE WHEN j.slot_free AND j.token_free AND j.nobody_waits THEN NULL
              WHEN NOT j.slot_free THEN 'concurrency'
              WHEN NOT j.token_free THEN 'rate'
              WHEN j.max_concurrent IS NOT NULL AND j.in_flight + j.reserved >= j.max_concurrent THEN 'concurrency'
              WHEN j.tokens IS NOT NULL AND j.tokens < 1 THEN 'rate'
              ELSE 'concurrency' END AS reason,
         CASE WHEN j.tokens IS NOT NULL AND j.tokens < 1
              THEN (SELECT now FROM clock) + (1 - j.tokens) / j.rate_per_second * interval '1 second' END AS until
    FROM judged j
), admitted AS (
  SELECT id FROM verdicts WHERE reason IS NULL
), `;

/**
 * CTEs of the limited claim after `claimed`: each fresh claim takes a token (a released one has;
 * a fallback needs none),
 * and the deliveries not admitted are held with their reason (the attempt untouched: holding
 * uses none), each with its audit row.
 */
export const LIMIT_BUCKET_CTE = `bucket AS (
  UPDATE service_limits sl
     SET tokens = l.tokens - (SELECT count(*) FROM claimed k
                               WHERE k.dependent_system = l.dependent_system AND NOT k.was_released AND NOT k.fallback),
         refilled_at = GREATEST(l.refilled_at, (SELECT now FROM clock))
    FROM limits l
   WHERE sl.dependent_system = l.dependent_system AND l.tokens IS NOT NULL
), limit_held AS (
  UPDATE workflow_steps s
     SET status = 'held', hold_reason = v.reason, hold_until = v.until, next_attempt_at = NULL, probe = false,
         waiting_since = COALESCE(s.waiting_since, clock_timestamp()), updated_at = clock_timestamp()
    FROM verdicts v, request r
   WHERE s.id = v.id AND v.reason IS NOT NULL AND r.step_id = s.id AND ${claimableBySql('s', 'r.attempt')}
     AND (s.status IN ('enqueued', 'waiting_retry')) IS TRUE
  RETURNING s.id, s.task_id, s.attempts, v.from_status, v.reason
), limit_hold_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, attempts, from_status, 'held', reason, $4 FROM limit_held
), `;

/** The steps of `$1` held by their system's limit, with the reason: which unclaimed deliveries the limited claim held. */
export const LIMIT_HELD_SQL = `SELECT s.id, s.hold_reason AS reason FROM workflow_steps s
  WHERE s.id = ANY ($1::uuid[]) AND s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS}`;

/** The usage of one system (`$1`), read after its limit row was locked. */
export const LIMIT_USAGE_SQL = `
WITH ${limitUsageCtes('$1')}x AS (SELECT 1)
SELECT l.max_concurrent AS "maxConcurrent", l.rate_per_second AS rate, sl.burst, l.in_flight AS "inFlight",
       l.reserved, l.waiting, sl.tokens, sl.refilled_at AS "refilledAt", c.now
  FROM limits l JOIN service_limits sl ON sl.dependent_system = l.dependent_system, clock c`;

/**
 * Releases `cardinality($2)` steps of system `$1` held by its limit (`$2`: one delay in ms per
 * step), fairly across namespaces: each becomes enqueued, due after its delay (a token not yet
 * due), with its job to be dispatched with that delay and its task's namespace and priority.
 * `$3` is the reason, `$4` the actor. With a rate, the bucket becomes `$5` tokens at `$6` less
 * one per released step: a released step's token is taken at its release. `$7`: the namespaces'
 * weights (jsonb, name → weight > 0; a namespace not named weighs 1).
 *
 * Fairness is stride scheduling over service_limit_shares: a waiting namespace has a virtual
 * `pass`; its k-th waiting step (by task priority, higher first, then the longest waiting)
 * finishes at pass + k / weight, and the smallest finishes are released first (ties: the
 * higher priority, then the longest waiting). Each namespace served moves its pass to the last
 * finish it was released at, so with weights 2 and 1 two steps of the first go for one of the
 * second however long either backlog is. A namespace that starts waiting joins at the smallest
 * pass of those already waiting (0 when none), so it neither waits behind another's backlog
 * nor is owed for the time it did not wait; one with no step left waiting loses its row at the
 * next release (a namespace whose waiting steps all left otherwise, cancelled or released to
 * their fallback, and that waits again before that release, keeps its old pass).
 * A newcomer cannot jump this order: the limited claim admits a fresh delivery only when no
 * step of its system waits (LIMIT_ADMISSION_CTES), else holds it, and a release ranks it with
 * the others.
 * The passes are read and written under the limit row's lock, taken by the caller.
 * Rejected: ranking the waiting steps alone (row_number per namespace / weight), without the
 * passes: with one slot, each release saw every namespace's first waiter at rank 1 and the tie
 * went to the longest waiting, so a namespace's backlog kept the slot and the other waited for
 * all of it, the FIFO this replaces.
 * Cost: every waiting step of the system is ranked per release (a sort of the waiters, which
 * the (dependent_system, status) index finds).
 * Locks: the released steps (SKIP LOCKED: a step a claim holds is left for the next release),
 * the system's service_limit_shares rows.
 */
export const LIMIT_RELEASE_SQL = `
WITH waiting AS MATERIALIZED (
  SELECT s.id, s.waiting_since, t.priority, ns.name AS namespace,
         COALESCE(($7::jsonb ->> ns.name)::float8, 1) AS weight,
         row_number() OVER (PARTITION BY ns.name ORDER BY t.priority DESC, s.waiting_since, s.id) AS ns_rank
    FROM workflow_steps s JOIN tasks t ON t.id = s.task_id
    JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id
   WHERE s.dependent_system = $1 AND s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS}
), shares AS MATERIALIZED (
  SELECT w.namespace, COALESCE(f.pass, (SELECT min(x.pass) FROM service_limit_shares x
                                         WHERE x.dependent_system = $1
                                           AND x.namespace IN (SELECT namespace FROM waiting)), 0) AS pass
    FROM (SELECT DISTINCT namespace FROM waiting) w
    LEFT JOIN service_limit_shares f ON f.dependent_system = $1 AND f.namespace = w.namespace
), ranked AS (
  SELECT w.*, sh.pass + w.ns_rank / w.weight AS finish FROM waiting w JOIN shares sh USING (namespace)
), picked AS (
  SELECT r.id, r.namespace, r.priority, r.finish, row_number() OVER (ORDER BY ${LIMIT_RELEASE_ORDER}) AS n FROM (
    SELECT r.* FROM workflow_steps s JOIN ranked r ON r.id = s.id
     WHERE s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS}
     ORDER BY ${LIMIT_RELEASE_ORDER} LIMIT cardinality($2::int[]) FOR UPDATE OF s SKIP LOCKED) r
), released AS (
  UPDATE workflow_steps s
     SET status = 'enqueued', hold_reason = NULL, hold_until = NULL, enqueued_at = clock_timestamp(),
         next_attempt_at = CASE WHEN ($2::int[])[p.n] > 0
                                THEN clock_timestamp() + ($2::int[])[p.n] * interval '1 millisecond' END,
         updated_at = clock_timestamp()
    FROM picked p WHERE s.id = p.id
  RETURNING s.id, s.task_id, s.handler, s.attempts, ($2::int[])[p.n] AS delay_ms, p.namespace, p.priority
), still_waiting AS (
  SELECT sh.namespace, COALESCE((SELECT max(p.finish) FROM picked p WHERE p.namespace = sh.namespace), sh.pass) AS pass
    FROM shares sh
   WHERE (SELECT count(*) FROM waiting w WHERE w.namespace = sh.namespace)
       > (SELECT count(*) FROM picked p WHERE p.namespace = sh.namespace)
), shares_kept AS (
  INSERT INTO service_limit_shares (dependent_system, namespace, pass)
  SELECT $1, namespace, pass FROM still_waiting
  ON CONFLICT (dependent_system, namespace) DO UPDATE SET pass = EXCLUDED.pass
), shares_dropped AS (
  DELETE FROM service_limit_shares f
   WHERE f.dependent_system = $1 AND f.namespace NOT IN (SELECT namespace FROM still_waiting)
), bucket AS (
  UPDATE service_limits SET tokens = $5::float8 - (SELECT count(*) FROM released), refilled_at = $6
   WHERE dependent_system = $1 AND rate_per_second IS NOT NULL
), transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'held', 'enqueued', $3, $4 FROM released
)
SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt, delay_ms AS "delayMs",
       namespace, priority FROM released`;
