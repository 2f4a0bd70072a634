import { hostname } from 'node:os';
import {
  type BreakerPolicy,
  type BreakerPolicyInput,
  ConfigError,
  isLimited,
  resolveBreakerPolicy,
  resolveServiceLimit,
  type ServiceLimit,
  type ServiceLimitInput,
  splitSystemPolicy,
} from '@switchyard/core';
import type { Pool, RetentionOptions } from '@switchyard/db';
import { DEFAULT_QUEUE_PREFIX, type RedisConnection } from '@switchyard/queue';
import type { Logger } from 'pino';
import { z } from 'zod';

/** What user code passes to {@link startScheduler}. */
export type SchedulerOptions = {
  pool: Pool;
  /** Connection string for the leader's own session (the advisory lock lives on it). */
  databaseUrl: string;
  redis: RedisConnection;
  /** BullMQ key prefix. Default 'switchyard'; on Redis Cluster it needs a hash tag (`{switchyard}`). */
  queuePrefix?: string;
  /** Weights by which namespaces share each step type's queue (SWITCHYARD_NAMESPACE_WEIGHTS); default 1 each. */
  namespaceWeights?: Readonly<Record<string, number>>;
  logger: Logger;
  /** Time between sweeps. Default {@link SCHEDULER_DEFAULTS}. */
  intervalMs?: number;
  /** How long a step may wait for its job before a sweep checks it. Default {@link SCHEDULER_DEFAULTS}. */
  dispatchGraceMs?: number;
  /** Rows handled per repair query, and running tasks examined per sweep for settled ones. Default {@link SCHEDULER_DEFAULTS}. */
  batchSize?: number;
  /** Dispatch candidates checked for a missing job per sweep. Default {@link SCHEDULER_DEFAULTS}. */
  missingJobChecksPerSweep?: number;
  /** Names this replica in logs and audit rows. Default `scheduler-<hostname>-<pid>`. */
  schedulerId?: string;
  /**
   * Prune finished tasks older than `olderThanMs` every `intervalMs` (leader only), keeping the
   * attempts the breakers still read. Off when omitted.
   */
  retention?: RetentionOptions & { intervalMs: number };
  /**
   * Policies by dependent system, written to Postgres at start: the breaker's (the rest use the
   * defaults) and the system's limit beside it (`max_concurrent`, `rate`, `burst`; none: no limit).
   */
  breakerPolicies?: Readonly<Record<string, BreakerPolicyInput & ServiceLimitInput>>;
  /** Time between polls for due schedules (every replica polls). Default {@link SCHEDULER_DEFAULTS}. */
  schedulePollMs?: number;
  /** How late a schedule's tick may fire and still count as on time. Default {@link SCHEDULER_DEFAULTS}. */
  scheduleGraceMs?: number;
  /** How often each adaptive limit is judged. Default {@link SCHEDULER_DEFAULTS}. */
  limitAdaptMs?: number;
};

/** The scheduler's defaults, in one place; the environment's defaults (packages/config) match them. */
export const SCHEDULER_DEFAULTS = {
  /** Time between sweeps (ms): also how long leadership takes to move when a leader dies. */
  intervalMs: 1_000,
  /**
   * How long a step may sit enqueued (or overdue for its retry) before a sweep checks that its
   * job exists (ms). Dispatch right after commit takes milliseconds, so this only has to cover
   * the gap between commit and the job's add.
   */
  dispatchGraceMs: 2_000,
  /**
   * Rows handled per repair query: bounds how long each repair statement holds its locks. Also
   * the running tasks examined per sweep for settled ones, resuming where the last sweep stopped:
   * with 20 000 running tasks a stranded one waits about 40 sweeps at most.
   */
  batchSize: 500,
  /**
   * Dispatch candidates checked for a missing job per sweep, oldest first; a larger backlog is
   * checked over several sweeps, each resuming where the last stopped (cost measured in scheduler.ts).
   */
  missingJobChecksPerSweep: 2_000,
  /**
   * Time between polls for due schedules (ms). Every replica polls (a due schedule is locked by
   * one of them), so a tick fires at most this late while any scheduler runs.
   */
  schedulePollMs: 500,
  /**
   * A schedule's tick at most this late (ms) is on time and fires whatever its catch_up says
   * (polling, or a replica taking over from one killed mid-tick); an older tick was missed while
   * no scheduler ran, and fires only as catch_up says.
   */
  scheduleGraceMs: 10_000,
  /**
   * How often the leader judges each adaptive limit (ms), from the calls of the last ten such
   * periods (limit-adaptation.ts). Judged in the sweep, so never more often than `intervalMs`.
   */
  limitAdaptMs: 1_000,
} as const;

/** {@link SchedulerOptions} with every default applied and every rule checked. */
export type CompiledSchedulerOptions = Required<Omit<SchedulerOptions, 'retention' | 'breakerPolicies'>> & {
  /** Null when pruning is off. */
  retention: (RetentionOptions & { intervalMs: number }) | null;
  /** Every configured policy, resolved against the defaults. */
  breakerPolicies: Readonly<Record<string, BreakerPolicy>>;
  /** The configured limits, by system (systems without one are not listed). */
  serviceLimits: Readonly<Record<string, ServiceLimit>>;
};

/** Validates and fills in scheduler options once, at the edge, before anything connects. @throws ConfigError */
export function compileSchedulerOptions(options: SchedulerOptions): CompiledSchedulerOptions {
  if (!options.databaseUrl)
    throw new ConfigError('databaseUrl is required: leadership lives on its own session');
  const schedulerId = options.schedulerId ?? `scheduler-${hostname()}-${process.pid}`;
  if (schedulerId.length === 0) throw new ConfigError('schedulerId must not be empty');
  return {
    pool: options.pool,
    databaseUrl: options.databaseUrl,
    redis: options.redis,
    // An empty prefix has always meant the default one.
    queuePrefix: options.queuePrefix || DEFAULT_QUEUE_PREFIX,
    namespaceWeights: options.namespaceWeights ?? {},
    logger: options.logger,
    intervalMs: integerAtLeast('intervalMs', options.intervalMs ?? SCHEDULER_DEFAULTS.intervalMs, 1),
    dispatchGraceMs: integerAtLeast(
      'dispatchGraceMs',
      options.dispatchGraceMs ?? SCHEDULER_DEFAULTS.dispatchGraceMs,
      0,
    ),
    batchSize: integerAtLeast('batchSize', options.batchSize ?? SCHEDULER_DEFAULTS.batchSize, 1),
    missingJobChecksPerSweep: integerAtLeast(
      'missingJobChecksPerSweep',
      options.missingJobChecksPerSweep ?? SCHEDULER_DEFAULTS.missingJobChecksPerSweep,
      1,
    ),
    schedulerId,
    schedulePollMs: integerAtLeast(
      'schedulePollMs',
      options.schedulePollMs ?? SCHEDULER_DEFAULTS.schedulePollMs,
      1,
    ),
    scheduleGraceMs: integerAtLeast(
      'scheduleGraceMs',
      options.scheduleGraceMs ?? SCHEDULER_DEFAULTS.scheduleGraceMs,
      0,
    ),
    limitAdaptMs: integerAtLeast('limitAdaptMs', options.limitAdaptMs ?? SCHEDULER_DEFAULTS.limitAdaptMs, 1),
    retention: compileRetention(options.retention),
    ...compileSystemPolicies(options.breakerPolicies ?? {}),
  };
}

function integerAtLeast(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer ≥ ${min}`);
  return value;
}

function compileRetention(retention: SchedulerOptions['retention']): CompiledSchedulerOptions['retention'] {
  if (!retention) return null;
  integerAtLeast('retention.olderThanMs', retention.olderThanMs, 0);
  integerAtLeast('retention.intervalMs', retention.intervalMs, 0);
  return retention;
}

/**
 * Resolves each system's policy now, its breaker's and its limit's, so a bad one stops the start
 * with the system's name and the field instead of a bare schema error.
 */
function compileSystemPolicies(
  policies: Readonly<Record<string, BreakerPolicyInput & ServiceLimitInput>>,
): Pick<CompiledSchedulerOptions, 'breakerPolicies' | 'serviceLimits'> {
  const breakerPolicies: Record<string, BreakerPolicy> = {};
  const serviceLimits: Record<string, ServiceLimit> = {};
  for (const [system, entry] of Object.entries(policies)) {
    const { breaker, limit } = splitSystemPolicy(entry);
    try {
      breakerPolicies[system] = resolveBreakerPolicy(breaker);
    } catch (err) {
      throw new ConfigError(`breaker policy for ${system} is invalid: ${describe(err)}`, { cause: err });
    }
    if (!limit) continue;
    try {
      const resolved = resolveServiceLimit(limit);
      if (isLimited(resolved)) serviceLimits[system] = resolved;
    } catch (err) {
      throw new ConfigError(`limit for ${system} is invalid: ${describe(err)}`, { cause: err });
    }
  }
  return { breakerPolicies, serviceLimits };
}

function describe(err: unknown): string {
  if (!(err instanceof z.ZodError)) return String(err);
  return err.issues.map((issue) => `${issue.path.join('.') || 'policy'}: ${issue.message}`).join('; ');
}
