/**
 * Worker process: env → dependencies → start → graceful stop.
 * Loads the team's handler modules by path, so Switchyard's worker runs handlers from the
 * team's own repository.
 */
import { createPool } from '@switchyard/db';
import { loadHandlerModules, loadTemplateFiles, startWorker } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection } from '@switchyard/queue';
import { loadWorkerEnv } from './env.ts';

const env = loadWorkerEnv();
const logger = createLogger({ name: 'switchyard-worker', level: env.LOG_LEVEL });

async function main(): Promise<void> {
  const handlers = await loadHandlerModules(env.SWITCHYARD_HANDLER_MODULES);
  const templates = await loadTemplateFiles(env.SWITCHYARD_TEMPLATE_PATHS);
  const pool = createPool(env.DATABASE_URL, {
    max: env.DATABASE_POOL_SIZE,
    application: 'switchyard-worker',
  });
  const redis = createRedisConnection(env.REDIS_URL);
  const worker = await startWorker({
    handlers,
    templates,
    pool,
    redis,
    queuePrefix: env.SWITCHYARD_QUEUE_PREFIX,
    stepTypes: env.SWITCHYARD_STEP_TYPES,
    concurrency: env.SWITCHYARD_CONCURRENCY,
    leaseMs: env.SWITCHYARD_LEASE_MS,
    leaseMsByStepType: env.SWITCHYARD_LEASE_MS_BY_STEP_TYPE,
    shutdownGraceMs: env.SWITCHYARD_SHUTDOWN_GRACE_MS,
    ...(env.SWITCHYARD_WORKER_ID ? { workerId: env.SWITCHYARD_WORKER_ID } : {}),
    logger,
  });
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    await worker.stop();
    redis.disconnect();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  logger.fatal({ err }, 'worker failed to start');
  process.exit(1);
});
