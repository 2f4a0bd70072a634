import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { clusterSeed, connectRedis, failFastRedisOptions, hasHashTag } from './connection.ts';

describe('clusterSeed', () => {
  it('takes the seed node, the decoded credentials and TLS from the URL', () => {
    expect(clusterSeed('rediss://switch%40yard:p%3As%2Fs@clustercfg.example.internal:6380')).toEqual({
      seed: { host: 'clustercfg.example.internal', port: 6380 },
      redisOptions: { username: 'switch@yard', password: 'p:s/s', tls: {} },
    });
    expect(clusterSeed('redis://10.0.0.7')).toEqual({
      seed: { host: '10.0.0.7', port: 6379 },
      redisOptions: {},
    });
    expect(clusterSeed('redis://:only-password@[::1]:7000/0')).toEqual({
      seed: { host: '::1', port: 7000 },
      redisOptions: { password: 'only-password' },
    });
  });

  it('refuses a database other than 0 and other schemes', () => {
    expect(() => clusterSeed('redis://node:6379/2')).toThrow(/only database 0; the URL names database 2/);
    expect(() => clusterSeed('http://node:6379')).toThrow(/must start with redis:\/\/ or rediss:\/\//);
  });
});

describe('hasHashTag', () => {
  it.each([
    ['{switchyard}', true],
    ['{switchyard}:eu', true],
    ['eu:{switchyard}', true],
    ['switchyard', false],
    ['{}switchyard', false],
    ['{switchyard', false],
    ['}{x}', true],
  ])('%s → %s', (prefix, expected) => {
    expect(hasHashTag(prefix)).toBe(expected);
  });
});

describe('failFastRedisOptions', () => {
  it('makes a command fail at once while nothing answers, instead of waiting for a reconnect', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const redis = connectRedis(
      { url: `redis://127.0.0.1:${port}`, cluster: false },
      failFastRedisOptions(500),
    );
    const errors: Error[] = [];
    redis.on('error', (err: Error) => errors.push(err));
    try {
      const started = Date.now();
      await expect(redis.ping()).rejects.toThrow(/enableOfflineQueue/);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(redis.options).toMatchObject({
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 500,
      });
    } finally {
      redis.disconnect();
    }
  });
});
