/**
 * A breaker's state: its row (created on first use with the default policy, or configured),
 * the evidence gathered from the attempt history, and the decisions of @switchyard/core's
 * decideBreaker applied to it. The breaker row is the one shared verdict: workers read it when
 * they claim, and whoever changes it (a worker recording a failure, the scheduler's sweep, an
 * operator) locks it first.
 */
import {
  BREAKER_POLICY_DEFAULTS,
  type BreakerDecision,
  type BreakerEvidence,
  type BreakerPolicy,
  type BreakerRow,
  type BreakerState,
  decideBreaker,
} from '@switchyard/core';
import { CALL_OUTCOMES, FAILURE_OUTCOMES } from './breaker-sql.ts';
import type { Queryable } from './pool.ts';

/**
 * What a breaker guards: a service steps call (`step`), or a webhook receiver (`webhook`,
 * named `webhook:<id>`). The kind says where its evidence comes from and what it holds and
 * releases; code branches on it, never on the name.
 */
export type BreakerKind = 'step' | 'webhook';

/** Creates the breaker row of a system if it has none yet (with the default policy). */
export async function ensureBreakerRow(
  db: Queryable,
  system: string,
  kind: BreakerKind = 'step',
): Promise<void> {
  await db.query(
    `INSERT INTO circuit_breakers (dependent_system, kind, policy) VALUES ($1, $3, $2::jsonb) ON CONFLICT DO NOTHING`,
    [system, JSON.stringify(BREAKER_POLICY_DEFAULTS), kind],
  );
}

/** Sets the policy in force for a system (scheduler start-up, from its configuration). */
export async function configureBreaker(db: Queryable, system: string, policy: BreakerPolicy): Promise<void> {
  await db.query(
    `INSERT INTO circuit_breakers (dependent_system, policy) VALUES ($1, $2::jsonb)
     ON CONFLICT (dependent_system) DO UPDATE SET policy = EXCLUDED.policy, updated_at = clock_timestamp()`,
    [system, JSON.stringify(policy)],
  );
}

export type LockedBreaker = BreakerRow & {
  dependentSystem: string;
  kind: BreakerKind;
  policy: BreakerPolicy;
};

/** Locks a system's breaker row, creating it (of `kind`) if it has none yet. */
export async function lockBreaker(
  db: Queryable,
  system: string,
  kind: BreakerKind = 'step',
): Promise<LockedBreaker> {
  await ensureBreakerRow(db, system, kind);
  const { rows } = await db.query(
    `SELECT dependent_system AS "dependentSystem", kind, state, since, next_probe_at AS "nextProbeAt",
            trip_count AS "tripCount", forced, policy
       FROM circuit_breakers WHERE dependent_system = $1 FOR UPDATE`,
    [system],
  );
  return { ...rows[0], policy: { ...BREAKER_POLICY_DEFAULTS, ...rows[0].policy } };
}

/**
 * Where a breaker's evidence comes from: the calls to the system, each with its id, whether it
 * failed, and when it finished. Steps' calls are their attempts (fallbacks, answers made without
 * a call, and outcomes that say nothing about the service left out: a probe that did not call
 * the service cannot close its breaker); a webhook receiver's calls are its delivery
 * attempts, where anything but a 2xx is a failure. `$1` is the dependent system.
 */
const EVIDENCE_SOURCES: Record<BreakerKind, string> = {
  step: `SELECT id, outcome IN ${FAILURE_OUTCOMES} AS failed, outcome = 'success' AS succeeded, finished_at
                    FROM step_attempts
                   WHERE dependent_system = $1 AND NOT fallback AND called AND outcome IN ${CALL_OUTCOMES}`,
  webhook: `SELECT id, outcome <> 'success' AS failed, outcome = 'success' AS succeeded, finished_at
                FROM webhook_delivery_attempts WHERE dependent_system = $1`,
};

/** The window counts, consecutive failures and probe results for one system, in one query. */
async function gatherEvidence(
  db: Queryable,
  breaker: LockedBreaker,
): Promise<BreakerEvidence & { trippingAttempts: number[] }> {
  const { policy } = breaker;
  // A closed breaker judges only calls made since it last closed: the failures of the outage
  // it recovered from are still in the window, and would trip it again at once.
  const { rows } = await db.query(
    `WITH bounds AS (
       SELECT GREATEST(clock_timestamp() - $2 * interval '1 millisecond',
                       COALESCE((SELECT max(created_at) FROM breaker_transitions
                                  WHERE dependent_system = $1 AND to_state = 'closed'), '-infinity')) AS window_start
     ), calls AS (
       SELECT id, failed, succeeded, finished_at, finished_at > (SELECT window_start FROM bounds) AS in_window
         FROM (${EVIDENCE_SOURCES[breaker.kind]}) source
        WHERE finished_at > LEAST((SELECT window_start FROM bounds), $3))
     SELECT count(*) FILTER (WHERE in_window)::int AS calls,
            count(*) FILTER (WHERE in_window AND failed)::int AS failures,
            count(*) FILTER (WHERE finished_at >= $3 AND succeeded)::int AS probe_successes,
            count(*) FILTER (WHERE finished_at >= $3 AND failed)::int AS probe_failures,
            (SELECT json_agg(json_build_object('id', id, 'failed', failed) ORDER BY finished_at DESC)
               FROM (SELECT * FROM calls WHERE in_window ORDER BY finished_at DESC LIMIT $4) newest) AS newest
       FROM calls`,
    [breaker.dependentSystem, policy.window_ms, breaker.since, policy.consecutive_failures],
  );
  const row = rows[0];
  const newest = (row.newest ?? []) as { id: number; failed: boolean }[];
  const streak = newest.findIndex((call) => !call.failed);
  const consecutive = streak === -1 ? newest.length : streak;
  return {
    calls: row.calls,
    failures: row.failures,
    consecutiveFailures: consecutive,
    probeSuccesses: row.probe_successes,
    probeFailures: row.probe_failures,
    trippingAttempts: newest.slice(0, consecutive).map((call) => call.id),
  };
}

/** A breaker state change, for logs and counters. */
export type BreakerTransition = {
  dependentSystem: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
  nextProbeAt: Date | null;
};

/**
 * Re-decides one system's breaker from the persisted history and applies the decision.
 * Locks: the breaker row (created on first use, of `kind`, default `step`). Returns the
 * transition made, or null.
 * Called by workers after a counted failure or a probe's success (so a trip stops calls at
 * once) and by the scheduler every sweep (so time-based moves happen without traffic).
 */
export async function evaluateBreaker(
  db: Queryable,
  input: { dependentSystem: string; kind?: BreakerKind; actor: string; now?: Date; random?: () => number },
): Promise<{ state: BreakerState; transition: BreakerTransition | null }> {
  const breaker = await lockBreaker(db, input.dependentSystem, input.kind);
  const { trippingAttempts, ...evidence } = await gatherEvidence(db, breaker);
  const now = input.now ?? new Date();
  const decision = decideBreaker(breaker.policy, breaker, evidence, now, input.random);
  if (!decision) return { state: breaker.state, transition: null };
  const recorded = { ...evidence, window_ms: breaker.policy.window_ms, attempts: trippingAttempts };
  await applyDecision(db, breaker, decision, now, recorded, input.actor);
  const nextProbeAt = decision.to === 'open' ? decision.nextProbeAt : null;
  const transition = {
    dependentSystem: breaker.dependentSystem,
    from: breaker.state,
    to: decision.to,
    reason: decision.reason,
    nextProbeAt,
  };
  return { state: decision.to, transition };
}

async function applyDecision(
  db: Queryable,
  breaker: LockedBreaker,
  decision: BreakerDecision,
  decidedAt: Date,
  evidence: Record<string, unknown>,
  actor: string,
): Promise<void> {
  const open = decision.to === 'open' ? decision : null;
  // The open period is counted from the database's clock, like `since`, so the two agree exactly
  // whichever process decided (and however long it waited for the row lock).
  const openForMs = open ? open.nextProbeAt.getTime() - decidedAt.getTime() : null;
  await db.query(
    `WITH updated AS (
       UPDATE circuit_breakers
          SET state = $2, since = clock_timestamp(), release_rate = 0, updated_at = clock_timestamp(),
              next_probe_at = clock_timestamp() + $3 * interval '1 millisecond',
              trip_count = CASE WHEN $2 = 'closed' THEN 0 WHEN $2 = 'open' THEN $4 ELSE trip_count END
        WHERE dependent_system = $1 RETURNING dependent_system)
     INSERT INTO breaker_transitions (dependent_system, from_state, to_state, reason, actor, evidence)
     SELECT dependent_system, $5, $2, $6, $7, $8::jsonb FROM updated`,
    [
      breaker.dependentSystem,
      decision.to,
      openForMs,
      open?.tripCount ?? breaker.tripCount,
      breaker.state,
      decision.reason,
      actor,
      JSON.stringify(evidence),
    ],
  );
}

/** Dependent systems that have a breaker row, each with its breaker's kind. */
export async function breakerSystems(
  db: Queryable,
): Promise<{ dependentSystem: string; kind: BreakerKind }[]> {
  const { rows } = await db.query(
    'SELECT dependent_system AS "dependentSystem", kind FROM circuit_breakers ORDER BY dependent_system',
  );
  return rows as { dependentSystem: string; kind: BreakerKind }[];
}
