import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedisOnCluster, deleteKeys, startRedisCluster, type TestRedisCluster } from './index.ts';

let cluster: TestRedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster({ password: 'cluster-secret' });
});
afterAll(() => cluster.stop());

describe('startRedisCluster', () => {
  it('runs three masters that share the 16384 slots and require the password', async () => {
    const client = cluster.connection();
    const nodes = (await client.cluster('SHARDS')) as unknown[];
    expect(nodes).toHaveLength(3);
    const info = await client.cluster('INFO');
    expect(info).toContain('cluster_state:ok');
    expect(info).toContain('cluster_slots_assigned:16384');

    const anonymous = new Redis(`redis://127.0.0.1:${cluster.ports[0]}`, { maxRetriesPerRequest: 0 });
    anonymous.on('error', () => {});
    await expect(anonymous.get('x')).rejects.toThrow(/NOAUTH/);
    anonymous.disconnect();
  });

  it('FLUSHALL-s every master', async () => {
    const client = cluster.connection();
    // Keys in many slots, hence on every master.
    for (let i = 0; i < 50; i++) await client.set(`flush-${i}`, 'x');
    await cluster.flushAll();
    for (let i = 0; i < 50; i++) expect(await client.get(`flush-${i}`)).toBeNull();
  });
});

describe('createTestRedisOnCluster', () => {
  it('hash-tags its prefix into one slot and cleans up only its own keys on every master', async () => {
    const mine = createTestRedisOnCluster(cluster);
    const other = createTestRedisOnCluster(cluster);
    const redis = mine.connection();
    const otherRedis = other.connection();
    expect(mine.prefix).toMatch(/^\{syt-[0-9a-f]+\}$/);
    const slots = new Set<number>();
    for (let i = 0; i < 200; i++) {
      await redis.set(`${mine.prefix}:q:${i}`, 'x');
      slots.add(Number(await redis.cluster('KEYSLOT', `${mine.prefix}:q:${i}`)));
    }
    expect(slots.size).toBe(1);
    await otherRedis.set(`${other.prefix}:q:1`, 'kept');

    await mine.cleanup();

    expect(redis.status).toBe('end');
    expect(await otherRedis.get(`${mine.prefix}:q:0`)).toBeNull();
    expect(await otherRedis.get(`${other.prefix}:q:1`)).toBe('kept');
    await other.cleanup();
  });

  it('deleteKeys finds keys on every master', async () => {
    const client = cluster.connection();
    const keys = Array.from({ length: 60 }, (_, i) => `spread:${i}`);
    for (const key of keys) await client.set(key, 'x');
    const holders = new Set(
      await Promise.all(keys.map(async (key) => Number(await client.cluster('KEYSLOT', key)) < 5461)),
    );
    expect(holders.size).toBe(2);
    await client.set('kept:1', 'x');

    expect(await deleteKeys(client, 'spread:*')).toBe(60);
    expect(await client.get('kept:1')).toBe('x');
    for (const key of keys) expect(await client.get(key)).toBeNull();
  });

  it('removes the temporary directory and the servers on stop', async () => {
    const spare = await startRedisCluster();
    const dir = spare.directory;
    expect(existsSync(dir)).toBe(true);
    await spare.stop();
    expect(existsSync(dir)).toBe(false);
    const probe = new Redis(`redis://127.0.0.1:${spare.ports[0]}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
  });
});
