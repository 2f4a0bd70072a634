import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

/** A BullMQ key prefix of its own on a shared Redis (or Redis Cluster), for one test file. */
export type TestRedis<C extends Redis | Cluster = Redis> = {
  url: string;
  /**
   * `{syt-<random>}`: pass it as BullMQ's `prefix`, so every key lives under `<prefix>:`. The
   * braces are a hash tag: on Redis Cluster every key of the prefix is in one slot, as in
   * production with `{switchyard}`.
   */
  prefix: string;
  /** A new connection (BullMQ-ready: `maxRetriesPerRequest: null`), closed by `cleanup`. */
  connection(): C;
  /** Deletes the keys under the prefix and quits the connections made by `connection()`. */
  cleanup(): Promise<void>;
};

const SCAN_BATCH = 500;

function randomPrefix(): string {
  return `{syt-${randomBytes(6).toString('hex')}}`;
}

/**
 * A unique prefix on the Redis at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). Cleanup
 * removes only this prefix's keys, with SCAN; never FLUSHALL, which would wipe the queues of
 * tests running at the same time in other processes.
 */
export function createTestRedis(): TestRedis<Redis> {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  return withPrefix(url, () => new Redis(url, { maxRetriesPerRequest: null }));
}

/** A unique prefix on a Redis Cluster (see startRedisCluster); its connections are cluster clients. */
export function createTestRedisOnCluster(cluster: {
  url: string;
  connection(): Cluster;
}): TestRedis<Cluster> {
  return withPrefix(cluster.url, () => cluster.connection());
}

function withPrefix<C extends Redis | Cluster>(url: string, open: () => C): TestRedis<C> {
  const prefix = randomPrefix();
  const connections: C[] = [];
  const connection = () => {
    const redis = open();
    connections.push(redis);
    return redis;
  };
  const cleanup = async () => {
    const admin = open();
    try {
      await deleteKeys(admin, `${prefix}:*`);
    } finally {
      await Promise.all([admin, ...connections.splice(0)].map(quit));
    }
  };
  return { url, prefix, connection, cleanup };
}

/**
 * Deletes every key matching `pattern`, a SCAN batch at a time; on a cluster, on every master
 * (SCAN sees one node's keys), one key per UNLINK (a multi-key UNLINK must stay in one slot).
 */
export async function deleteKeys(redis: Redis | Cluster, pattern: string): Promise<number> {
  if (!(redis instanceof Cluster)) return deleteNodeKeys(redis, pattern, false);
  // The node list is empty until the client has read the slot map.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  let deleted = 0;
  for (const node of redis.nodes('master')) deleted += await deleteNodeKeys(node, pattern, true);
  return deleted;
}

async function deleteNodeKeys(redis: Redis, pattern: string, oneKeyPerCommand: boolean): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
    cursor = next;
    if (keys.length === 0) continue;
    // UNLINK frees memory in the background; a key gone meanwhile is simply not counted.
    if (!oneKeyPerCommand) {
      deleted += await redis.unlink(...keys);
      continue;
    }
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.unlink(key);
    for (const [err, count] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      deleted += Number(count);
    }
  } while (cursor !== '0');
  return deleted;
}

/**
 * Closes a connection politely and waits until its socket is gone (QUIT's reply comes before
 * that), so a test that checks for leaked handles does not see it; drops it if QUIT fails.
 */
async function quit(redis: Redis | Cluster): Promise<void> {
  if (redis.status === 'end') return;
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  await redis.quit().catch(() => redis.disconnect());
  await ended;
}
