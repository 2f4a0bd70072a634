import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** A BullMQ key prefix of its own on the shared Redis, for one test file. */
export type TestRedis = {
  url: string;
  /** `syt-<random>`: pass it as BullMQ's `prefix`, so every key lives under `<prefix>:`. */
  prefix: string;
  /** A new connection (BullMQ-ready: `maxRetriesPerRequest: null`), closed by `cleanup`. */
  connection(): Redis;
  /** Deletes the keys under the prefix and quits the connections made by `connection()`. */
  cleanup(): Promise<void>;
};

const SCAN_BATCH = 500;

/**
 * A unique prefix on the Redis at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). Cleanup
 * removes only this prefix's keys, with SCAN; never FLUSHALL, which would wipe the queues of
 * tests running at the same time in other processes.
 */
export function createTestRedis(): TestRedis {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `syt-${randomBytes(6).toString('hex')}`;
  const connections: Redis[] = [];
  const connection = () => {
    const redis = new Redis(url, { maxRetriesPerRequest: null });
    connections.push(redis);
    return redis;
  };
  const cleanup = async () => {
    const admin = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      await deleteKeys(admin, `${prefix}:*`);
    } finally {
      await Promise.all([admin, ...connections.splice(0)].map(quit));
    }
  };
  return { url, prefix, connection, cleanup };
}

/** Deletes every key matching `pattern`, a SCAN batch at a time. */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
    cursor = next;
    // UNLINK frees memory in the background; a key gone meanwhile is simply not counted.
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/**
 * Closes a connection politely and waits until its socket is gone (QUIT's reply comes before
 * that), so a test that checks for leaked handles does not see it; drops it if QUIT fails.
 */
async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  await redis.quit().catch(() => redis.disconnect());
  await ended;
}
