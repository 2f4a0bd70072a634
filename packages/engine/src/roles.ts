/**
 * What every process main does the same way: connect to Postgres and Redis from the parsed
 * environment, start a role with its settings, and stop everything in reverse order on
 * SIGTERM or SIGINT.
 */

import type { CommonEnv, SchedulerEnvSettings, WorkerEnvSettings } from '@switchyard/config';
import { ConfigError } from '@switchyard/core';
import { createPool, type Pool, type PoolOptions } from '@switchyard/db';
import { connectRedis, type RedisConnection, type RedisOptions } from '@switchyard/queue';
import { startTracing } from '@switchyard/tracing';
import type { Logger } from 'pino';
import { loadHandlerModules, loadTemplateFiles, requireHandlersFor } from './load-modules.ts';
import { type RunningScheduler, startScheduler } from './scheduler.ts';
import { withWebhookDelivery } from './webhook-delivery.ts';
import { type RunningWorker, startWorker } from './worker.ts';

export type Infrastructure = { pool: Pool; redis: RedisConnection; close(): Promise<void> };

/** What a role sets on its connections besides the common env (the API's timeouts). */
export type ConnectOptions = {
  pool?: Pick<PoolOptions, 'connectionTimeoutMillis' | 'statementTimeoutMillis' | 'genericPlans'>;
  redis?: RedisOptions;
};

/**
 * The worker role's connections (apps/worker, and @switchyard/worker's startWorker given a
 * database URL): its hot statements (claim, success, finalization) use generic plans, made
 * again every 2 s instead of on every call (`genericPlans`, pool.ts). The API, the scheduler
 * and the fleet (which runs the scheduler on its pool) keep Postgres's default: their list and
 * sweep queries take optional filters (`$1::text IS NULL OR …`) whose plans depend on the
 * values.
 */
export const WORKER_CONNECTIONS = { pool: { genericPlans: true } } as const satisfies ConnectOptions;

/**
 * The process's Postgres pool, Redis connection (one server, or a cluster with REDIS_CLUSTER)
 * and tracing (on when an OTLP endpoint is set).
 */
export function connect(env: CommonEnv, application: string, options: ConnectOptions = {}): Infrastructure {
  const tracing = startTracing({
    serviceName: application,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  });
  const pool = createPool(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE, application, ...options.pool });
  const redis = connectRedis({ url: env.REDIS_URL, cluster: env.REDIS_CLUSTER }, options.redis);
  return {
    pool,
    redis,
    async close() {
      redis.disconnect();
      await pool.end();
      await tracing.shutdown();
    },
  };
}

/** Starts a worker with the handler modules and templates the settings name. */
export async function startWorkerRole(
  env: CommonEnv & WorkerEnvSettings,
  infra: Infrastructure,
  logger: Logger,
): Promise<RunningWorker> {
  const handlers = await loadHandlerModules(env.SWITCHYARD_HANDLER_MODULES);
  requireHandlersFor(env.SWITCHYARD_STEP_TYPES, handlers, env.SWITCHYARD_HANDLER_MODULES);
  return startWorker({
    handlers,
    templates: await loadTemplateFiles(env.SWITCHYARD_TEMPLATE_PATHS),
    pool: infra.pool,
    redis: infra.redis,
    queuePrefix: env.SWITCHYARD_QUEUE_PREFIX,
    namespaceWeights: env.SWITCHYARD_NAMESPACE_WEIGHTS,
    stepTypes: env.SWITCHYARD_STEP_TYPES,
    concurrency: env.SWITCHYARD_CONCURRENCY,
    leaseMs: env.SWITCHYARD_LEASE_MS,
    leaseMsByStepType: env.SWITCHYARD_LEASE_MS_BY_STEP_TYPE,
    shutdownGraceMs: env.SWITCHYARD_SHUTDOWN_GRACE_MS,
    eagerClaim: env.SWITCHYARD_EAGER_CLAIM,
    continuationWaitMs: env.SWITCHYARD_CONTINUATION_WAIT_MS,
    ...(env.SWITCHYARD_WORKER_ID ? { workerId: env.SWITCHYARD_WORKER_ID } : {}),
    logger,
  });
}

export function startSchedulerRole(
  env: CommonEnv & SchedulerEnvSettings,
  infra: Infrastructure,
  logger: Logger,
): Promise<RunningScheduler> {
  return startScheduler({
    pool: infra.pool,
    databaseUrl: env.DATABASE_URL,
    redis: infra.redis,
    queuePrefix: env.SWITCHYARD_QUEUE_PREFIX,
    namespaceWeights: env.SWITCHYARD_NAMESPACE_WEIGHTS,
    logger,
    intervalMs: env.SWITCHYARD_SCHEDULER_INTERVAL_MS,
    dispatchGraceMs: env.SWITCHYARD_DISPATCH_GRACE_MS,
    batchSize: env.SWITCHYARD_SCHEDULER_BATCH_SIZE,
    schedulePollMs: env.SWITCHYARD_SCHEDULE_POLL_MS,
    scheduleGraceMs: env.SWITCHYARD_SCHEDULE_GRACE_MS,
    limitAdaptMs: env.SWITCHYARD_LIMIT_ADAPT_MS,
    breakerPolicies: env.SWITCHYARD_BREAKER_POLICIES,
    ...(env.SWITCHYARD_RETENTION_MS > 0
      ? {
          retention: {
            olderThanMs: env.SWITCHYARD_RETENTION_MS,
            breakerWindowMs: env.SWITCHYARD_RETENTION_BREAKER_WINDOW_MS,
            intervalMs: env.SWITCHYARD_RETENTION_INTERVAL_MS,
          },
        }
      : {}),
  }).then((scheduler) =>
    withWebhookDelivery(scheduler, {
      pool: infra.pool,
      logger,
      concurrency: env.SWITCHYARD_WEBHOOK_CONCURRENCY,
      pollIntervalMs: env.SWITCHYARD_WEBHOOK_POLL_MS,
      leaseMs: env.SWITCHYARD_WEBHOOK_LEASE_MS,
      allowPrivateTargets: env.SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS,
    }),
  );
}

/**
 * A process main's whole life: installs the SIGTERM/SIGINT handlers first, then starts. A
 * signal that arrives while `start` is still running waits for it, so the process never exits
 * half-started without a drain. `start` returns the stops to run, in order (reverse of start);
 * a failed start exits 1, or 78 (EX_CONFIG) for a ConfigError.
 */
export function runUntilSignal(logger: Logger, start: () => Promise<readonly (() => Promise<void>)[]>): void {
  let started: Promise<readonly (() => Promise<void>)[]> | null = null;
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    try {
      for (const step of (await started) ?? []) await step();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'stop failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  started = start();
  started.catch((err) => {
    logger.fatal({ err }, 'failed to start');
    // Bad configuration (a handler module that does not load, a step type without a handler)
    // exits EX_CONFIG like a bad environment does, so an orchestrator tells it from a crash.
    process.exit(err instanceof ConfigError ? 78 : 1);
  });
}
