/** Scheduler process: env → dependencies → start → graceful stop. Safe to run as several replicas. */
import { createPool } from '@switchyard/db';
import { startScheduler } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection } from '@switchyard/queue';
import { loadSchedulerEnv } from './env.ts';

const env = loadSchedulerEnv();
const logger = createLogger({ name: 'switchyard-scheduler', level: env.LOG_LEVEL });

async function main(): Promise<void> {
  const pool = createPool(env.DATABASE_URL, {
    max: env.DATABASE_POOL_SIZE,
    application: 'switchyard-scheduler',
  });
  const redis = createRedisConnection(env.REDIS_URL);
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
    await scheduler.stop();
    redis.disconnect();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  logger.fatal({ err }, 'scheduler failed to start');
  process.exit(1);
});
