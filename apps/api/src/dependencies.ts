/**
 * How the API behaves when Postgres or Redis does not answer: every wait is bounded, and a
 * failure is a 503 naming the dependency instead of a hung request.
 */
import { TransientInfrastructureError, toError } from '@switchyard/core';
import type { RedisConnection } from '@switchyard/queue';
import type { Logger } from 'pino';

/**
 * `work`, or a TransientInfrastructureError (503) saying that `what` did not answer, once `ms`
 * have passed. The work itself is not stopped: its late result is dropped.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TransientInfrastructureError(`${what} did not answer within ${ms} ms`)),
      ms,
    );
  });
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `work` against Redis within `ms`; any failure becomes a TransientInfrastructureError (503)
 * that names Redis, so a route that needs it answers "Redis is unavailable" at once.
 */
export async function fromRedis<T>(work: () => Promise<T>, ms: number, what: string): Promise<T> {
  try {
    return await withDeadline(work(), ms, 'Redis');
  } catch (err) {
    throw new TransientInfrastructureError(`Redis is unavailable (${what}): ${toError(err).message}`, {
      cause: toError(err),
    });
  }
}

/**
 * Logs each change of the Redis connection's state once (unavailable, then available again)
 * through pino, instead of an error per reconnect attempt. Listening also keeps ioredis from
 * printing "[ioredis] Unhandled error event" to stderr. Returns the function that stops it.
 */
export function watchRedis(redis: RedisConnection, logger: Logger): () => void {
  let down = false;
  const onError = (err: Error) => {
    if (down) return;
    down = true;
    logger.warn(
      { err: toError(err) },
      'Redis is unavailable: creates and cancels still succeed (the scheduler dispatches what is missing), queue reads answer 503',
    );
  };
  const onReady = () => {
    if (!down) return;
    down = false;
    logger.info('Redis is available again');
  };
  redis.on('error', onError);
  redis.on('ready', onReady);
  return () => {
    redis.off('error', onError);
    redis.off('ready', onReady);
  };
}
