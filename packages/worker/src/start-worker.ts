import { ConfigError } from '@switchyard/core';
import { createPool, type Pool } from '@switchyard/db';
import {
  type RunningWorker,
  startWorker as startEngineWorker,
  WORKER_CONNECTIONS,
  type WorkerOptions,
} from '@switchyard/engine';
import { createLogger, type Logger } from '@switchyard/logger';
import { connectRedis, type RedisConnection } from '@switchyard/queue';

/**
 * {@link WorkerOptions} where the connections may be given as URLs: a worker started with
 * `databaseUrl` / `redisUrl` opens its own pool and Redis connection and closes them when it
 * stops; a `pool` / `redis` passed in stays the caller's to close.
 */
export type StartWorkerOptions = Omit<WorkerOptions, 'pool' | 'redis' | 'logger'> & {
  /** Postgres connection string; or pass `pool`. */
  databaseUrl?: string;
  pool?: Pool;
  /** Redis URL (`redis://` or `rediss://`); or pass `redis`. */
  redisUrl?: string;
  /** With `redisUrl`: the URL is a seed node of a Redis Cluster. Default false. */
  redisCluster?: boolean;
  redis?: RedisConnection;
  /** Default: a pino logger named `switchyard-worker` at level info. */
  logger?: Logger;
};

/**
 * Starts a worker in this process: it registers the templates, consumes the queues of its step
 * types and runs their handlers until `stop()`.
 * @throws ConfigError for a missing connection, a step type without a handler, and the like.
 */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { databaseUrl, redisUrl, redisCluster, ...rest } = options;
  const pool =
    rest.pool ??
    (databaseUrl
      ? createPool(databaseUrl, { application: 'switchyard-worker', ...WORKER_CONNECTIONS.pool })
      : null);
  const redis =
    rest.redis ?? (redisUrl ? connectRedis({ url: redisUrl, cluster: redisCluster ?? false }) : null);
  if (!pool || !redis) {
    await pool?.end();
    redis?.disconnect();
    throw new ConfigError('startWorker needs a database (databaseUrl or pool) and Redis (redisUrl or redis)');
  }
  const closeOwn = async () => {
    if (!rest.redis) redis.disconnect();
    if (!rest.pool) await pool.end();
  };
  const logger = rest.logger ?? createLogger({ name: 'switchyard-worker' });
  const worker = await startEngineWorker({ ...rest, pool, redis, logger }).catch(async (err: unknown) => {
    await closeOwn();
    throw err;
  });
  return {
    workerId: worker.workerId,
    stepTypes: worker.stepTypes,
    inFlightCount: () => worker.inFlightCount(),
    async stop(graceMs?: number) {
      await worker.stop(graceMs);
      await closeOwn();
    },
  };
}
