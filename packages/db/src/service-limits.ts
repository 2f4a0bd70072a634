/**
 * The limits in force per dependent system: configured at the scheduler's start (beside the
 * breaker policies), overridden by operators with a reason, and seen with their usage. Every
 * change of the limit in force is audited in service_limit_changes.
 */
import {
  type AdaptiveBounds,
  type AdaptiveEvidence,
  type LimitHoldReason,
  NotFoundError,
  type ServiceLimit,
} from '@switchyard/core';
import { dependentSystemExists } from './breaker-overrides.ts';
import type { Queryable } from './pool.ts';
import { LIMIT_REASONS } from './service-limit-sql.ts';

/** A limit as stored in `configured` / `override` (the configuration's keys). */
type StoredLimit = {
  max_concurrent?: number | null;
  rate?: number | null;
  burst?: number | null;
  adaptive?: AdaptiveBounds | null;
};

function toStored(limit: ServiceLimit): StoredLimit {
  const stored: StoredLimit = { max_concurrent: limit.maxConcurrent, rate: limit.rate, burst: limit.burst };
  if (limit.adaptive) stored.adaptive = limit.adaptive;
  return stored;
}

/** SQL: the limit in force of row `l`: the override if any, else the configured one. */
const IN_FORCE = `COALESCE(l.override, l.configured, '{}'::jsonb)`;

/**
 * SQL: the concurrency in force of row `l`. An override is in force as given (and pauses the
 * adaptive limiter); else an adaptive system's limit is the one the limiter last chose (at first
 * the configured max_concurrent), inside the bounds; else the configured one.
 */
const CONCURRENCY_IN_FORCE = `CASE WHEN l.override IS NULL AND l.adaptive IS NOT NULL
  THEN LEAST(GREATEST(COALESCE(l.adaptive_limit, (l.configured->>'max_concurrent')::int),
                      (l.adaptive->>'min')::int), (l.adaptive->>'max')::int)
  ELSE (${IN_FORCE}->>'max_concurrent')::int END`;

/**
 * Puts `limit` in force as `source` says (config or operator): sets the row's columns from the
 * override, else the configuration, and records a change when the limit in force moved. A new
 * rate starts with a full bucket. Locks: the system's service_limits row.
 */
async function applyInForce(
  db: Queryable,
  system: string,
  change: { source: 'config' | 'operator'; reason: string; actor: string },
): Promise<void> {
  await db.query(
    `WITH previous AS (
       SELECT max_concurrent, rate_per_second, burst FROM service_limits WHERE dependent_system = $1 FOR UPDATE
     ), updated AS (
       UPDATE service_limits l
          SET max_concurrent = ${CONCURRENCY_IN_FORCE},
              rate_per_second = (${IN_FORCE}->>'rate')::float8,
              burst = (${IN_FORCE}->>'burst')::int,
              tokens = CASE WHEN (${IN_FORCE}->>'rate')::float8 IS NOT DISTINCT FROM p.rate_per_second
                            AND (${IN_FORCE}->>'burst')::int IS NOT DISTINCT FROM p.burst
                            THEN l.tokens ELSE COALESCE((${IN_FORCE}->>'burst')::int, 0) END,
              refilled_at = CASE WHEN (${IN_FORCE}->>'rate')::float8 IS NOT DISTINCT FROM p.rate_per_second
                                 THEN l.refilled_at ELSE clock_timestamp() END,
              updated_at = clock_timestamp()
         FROM previous p WHERE l.dependent_system = $1
       RETURNING l.max_concurrent, l.rate_per_second, l.burst,
                 (l.max_concurrent, l.rate_per_second, l.burst) IS DISTINCT FROM (p.max_concurrent, p.rate_per_second, p.burst) AS moved
     )
     INSERT INTO service_limit_changes (dependent_system, max_concurrent, rate_per_second, burst, source, reason, actor)
     SELECT $1, max_concurrent, rate_per_second, burst, $2, $3, $4 FROM updated WHERE moved`,
    [system, change.source, change.reason, change.actor],
  );
}

/**
 * Writes the configured limits (scheduler start-up): each named system's `configured` limit is
 * set, and a system no longer configured loses its configured limit (an operator's override
 * stays). Locks: each system's service_limits row.
 */
export async function configureServiceLimits(
  db: Queryable,
  limits: Readonly<Record<string, ServiceLimit>>,
  actor: string,
): Promise<void> {
  const { rows } = await db.query(
    `SELECT dependent_system FROM service_limits WHERE configured IS NOT NULL ORDER BY dependent_system`,
  );
  const unconfigured = rows.map((row) => row.dependent_system as string).filter((s) => !(s in limits));
  for (const system of unconfigured) {
    await db.query(
      'UPDATE service_limits SET configured = NULL, adaptive = NULL, adaptive_limit = NULL WHERE dependent_system = $1',
      [system],
    );
    await applyInForce(db, system, { source: 'config', reason: 'no longer configured', actor });
  }
  for (const [system, limit] of Object.entries(limits).sort(([a], [b]) => a.localeCompare(b))) {
    // An adaptive system keeps the limit its limiter chose across restarts (inside the new bounds);
    // one no longer adaptive forgets it.
    await db.query(
      `INSERT INTO service_limits (dependent_system, configured, adaptive) VALUES ($1, $2::jsonb, $3::jsonb)
       ON CONFLICT (dependent_system) DO UPDATE
         SET configured = EXCLUDED.configured, adaptive = EXCLUDED.adaptive,
             adaptive_limit = CASE WHEN EXCLUDED.adaptive IS NULL THEN NULL ELSE service_limits.adaptive_limit END`,
      [system, JSON.stringify(toStored(limit)), limit.adaptive ? JSON.stringify(limit.adaptive) : null],
    );
    await applyInForce(db, system, { source: 'config', reason: 'configured', actor });
  }
}

/**
 * An operator's override of a system's limit (`limit` with null fields: that dimension is not
 * limited), or its removal (`limit: null`: the configured limit is in force again). Audited with
 * who and why. Locks: the system's service_limits row.
 * @throws NotFoundError for a system no registered template calls and that has no breaker.
 */
export async function overrideServiceLimit(
  db: Queryable,
  input: { dependentSystem: string; limit: ServiceLimit | null; reason: string; actor: string },
): Promise<ServiceLimitView> {
  const system = input.dependentSystem;
  const known = (await dependentSystemExists(db, system)) || (await hasLimitRow(db, system));
  if (!known) {
    throw new NotFoundError(`no registered template calls a dependent system named ${system}`);
  }
  const override = input.limit
    ? { ...toStored(input.limit), reason: input.reason, actor: input.actor, at: new Date().toISOString() }
    : null;
  await db.query(
    `INSERT INTO service_limits (dependent_system, override) VALUES ($1, $2::jsonb)
     ON CONFLICT (dependent_system) DO UPDATE SET override = EXCLUDED.override`,
    [system, override === null ? null : JSON.stringify(override)],
  );
  const reason = `${input.limit ? 'override' : 'override removed'} by operator: ${input.reason}`;
  await applyInForce(db, system, { source: 'operator', reason, actor: input.actor });
  const [view] = await listServiceLimits(db, { dependentSystem: system });
  return view!;
}

async function hasLimitRow(db: Queryable, system: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM service_limits WHERE dependent_system = $1', [system]);
  return rows.length > 0;
}

/** One system's limit as operators see it. */
export type ServiceLimitView = {
  dependentSystem: string;
  /** The limit in force. */
  limit: ServiceLimit;
  /** From the scheduler's configuration, or null. */
  configured: ServiceLimit | null;
  /** An operator's override, or null. */
  override: (ServiceLimit & { reason: string; actor: string; at: string }) | null;
  /** Steps in_progress under an unexpired lease, but for those running their fallback. */
  inFlight: number;
  /** Steps held by the limit, by reason (`concurrency`, `rate`). */
  waiting: Record<LimitHoldReason, number>;
  /** Released and not claimed yet. */
  reserved: number;
  /**
   * The adaptive limiter's state, or null for a static limit: its bounds, the limit it chose
   * last (null before its first change), the service's baseline latency, and whether an
   * operator's override pauses it.
   */
  adaptive:
    | (AdaptiveBounds & { limit: number | null; baselineLatencyMs: number | null; paused: boolean })
    | null;
  updatedAt: Date;
};

function fromStored(stored: StoredLimit | null): ServiceLimit | null {
  if (!stored) return null;
  const limit: ServiceLimit = {
    maxConcurrent: stored.max_concurrent ?? null,
    rate: stored.rate ?? null,
    burst: stored.burst ?? null,
  };
  if (stored.adaptive) limit.adaptive = stored.adaptive;
  return limit;
}

/** Every system with a limit row (configured or overridden), with its usage. */
export async function listServiceLimits(
  db: Queryable,
  input: { dependentSystem?: string } = {},
): Promise<ServiceLimitView[]> {
  const { rows } = await db.query(
    `SELECT l.dependent_system AS "dependentSystem", l.max_concurrent AS "maxConcurrent", l.rate_per_second AS rate,
            l.burst, l.configured, l.override, l.updated_at AS "updatedAt", l.adaptive,
            l.adaptive_limit AS "adaptiveLimit", l.baseline_latency_ms AS "baselineLatencyMs",
            count(*) FILTER (WHERE s.status = 'in_progress' AND s.lease_expires_at > clock_timestamp()
                                   AND NOT s.claimed_for_fallback)::int AS "inFlight",
            count(*) FILTER (WHERE s.status = 'held' AND s.hold_reason = 'concurrency')::int AS concurrency,
            count(*) FILTER (WHERE s.status = 'held' AND s.hold_reason = 'rate')::int AS rate_waiting,
            count(*) FILTER (WHERE s.status = 'enqueued' AND s.waiting_since IS NOT NULL)::int AS reserved
       FROM service_limits l
       LEFT JOIN workflow_steps s ON s.dependent_system = l.dependent_system
        AND ((s.status = 'in_progress') OR (s.status = 'held' AND s.hold_reason IN ${LIMIT_REASONS})
             OR (s.status = 'enqueued' AND s.waiting_since IS NOT NULL))
      WHERE $1::text IS NULL OR l.dependent_system = $1
      GROUP BY l.dependent_system ORDER BY l.dependent_system`,
    [input.dependentSystem ?? null],
  );
  return rows.map((row) => ({
    dependentSystem: row.dependentSystem,
    limit: { maxConcurrent: row.maxConcurrent, rate: row.rate, burst: row.burst },
    configured: fromStored(row.configured),
    override: row.override ? { ...fromStored(row.override)!, ...pickAudit(row.override) } : null,
    inFlight: row.inFlight,
    waiting: { concurrency: row.concurrency, rate: row.rate_waiting },
    reserved: row.reserved,
    adaptive: row.adaptive
      ? {
          min: row.adaptive.min,
          max: row.adaptive.max,
          limit: row.adaptiveLimit,
          baselineLatencyMs: row.baselineLatencyMs === null ? null : Math.round(row.baselineLatencyMs),
          paused: row.override !== null,
        }
      : null,
    updatedAt: row.updatedAt,
  }));
}

function pickAudit(override: Record<string, unknown>): { reason: string; actor: string; at: string } {
  return { reason: String(override.reason), actor: String(override.actor), at: String(override.at) };
}

/** One change of a system's limit in force. */
export type ServiceLimitChange = {
  limit: ServiceLimit;
  source: 'config' | 'operator' | 'adaptive';
  reason: string;
  actor: string;
  /** The adaptive limiter's evidence (its window, baseline, from → to); null for other sources. */
  evidence: AdaptiveEvidence | null;
  createdAt: Date;
};

/** The changes of one system's limit in force, newest first. */
export async function listServiceLimitChanges(
  db: Queryable,
  input: { dependentSystem: string; limit?: number },
): Promise<ServiceLimitChange[]> {
  const { rows } = await db.query(
    `SELECT max_concurrent, rate_per_second, burst, source, reason, actor, evidence, created_at AS "createdAt"
       FROM service_limit_changes WHERE dependent_system = $1 ORDER BY id DESC LIMIT $2`,
    [input.dependentSystem, input.limit ?? 50],
  );
  return rows.map((row) => ({
    limit: { maxConcurrent: row.max_concurrent, rate: row.rate_per_second, burst: row.burst },
    source: row.source,
    reason: row.reason,
    actor: row.actor,
    evidence: row.evidence,
    createdAt: row.createdAt,
  }));
}
