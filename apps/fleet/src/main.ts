/**
 * The local fleet: worker and scheduler roles in one process, for development and demos.
 * In production each role runs in its own container (apps/worker, apps/scheduler).
 */
import { createPool } from '@switchyard/db';
import { loadHandlerModules, loadTemplateFiles, startScheduler, startWorker } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection } from '@switchyard/queue';
import { loadFleetEnv } from './env.ts';

const env = loadFleetEnv();
const logger = createLogger({ name: 'switchyard-fleet', level: env.LOG_LEVEL });

async function main(): Promise<void> {
  const pool = createPool(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE, application: 'switchyard-fleet' });
  const redis = createRedisConnection(env.REDIS_URL);
  const worker = await startWorker({
    handlers: await loadHandlerModules(env.SWITCHYARD_HANDLER_MODULES),
    templates: await loadTemplateFiles(env.SWITCHYARD_TEMPLATE_PATHS),
    pool,
    redis,
    queuePrefix: env.SWITCHYARD_QUEUE_PREFIX,
    stepTypes: env.SWITCHYARD_STEP_TYPES,
    concurrency: env.SWITCHYARD_CONCURRENCY,
    leaseMs: env.SWITCHYARD_LEASE_MS,
    leaseMsByStepType: env.SWITCHYARD_LEASE_MS_BY_STEP_TYPE,
    shutdownGraceMs: env.SWITCHYARD_SHUTDOWN_GRACE_MS,
    logger,
  });
  const scheduler = await startScheduler({
    pool,
    databaseUrl: env.DATABASE_URL,
    redis,
    queuePrefix: env.SWITCHYARD_QUEUE_PREFIX,
    logger,
    intervalMs: env.SWITCHYARD_SCHEDULER_INTERVAL_MS,
    dispatchGraceMs: env.SWITCHYARD_DISPATCH_GRACE_MS,
    batchSize: env.SWITCHYARD_SCHEDULER_BATCH_SIZE,
    breakerPolicies: env.SWITCHYARD_BREAKER_POLICIES,
  });
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    await worker.stop();
    await scheduler.stop();
    redis.disconnect();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  logger.fatal({ err }, 'fleet failed to start');
  process.exit(1);
});
