import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLocalRedis, LocalInfraError } from './index.ts';
import { waitFor } from './machine.ts';

const LIVE_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A loopback port where nothing listens right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The first reply line to a PING at `url`, or the connection error's code. */
function ping(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write('PING\r\n'));
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString().trim());
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('ensureLocalRedis', () => {
  it('starts a redis-server when nothing answers at a loopback URL, and stop() stops it', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const redis = await ensureLocalRedis({
      redisUrl: `redis://127.0.0.1:${port}`,
      log: (l) => lines.push(l),
    });
    cleanups.push(redis.stop);
    expect(redis.started).toBe(true);
    expect(redis.redisUrl).toBe(`redis://127.0.0.1:${port}`);
    expect(await ping(redis.redisUrl)).toBe('+PONG');
    expect(lines).toEqual([expect.stringMatching(`^no Redis at 127.0.0.1:${port}; started .*redis-server`)]);
    await redis.stop();
    expect(await waitFor(async () => (await ping(redis.redisUrl)) === 'ECONNREFUSED', 5_000)).toBe(true);
  });

  it('uses a Redis that answers and starts nothing', async () => {
    const lines: string[] = [];
    const redis = await ensureLocalRedis({ redisUrl: LIVE_REDIS_URL, log: (l) => lines.push(l) });
    expect(redis).toMatchObject({ redisUrl: LIVE_REDIS_URL, started: false });
    expect(lines).toEqual([]);
    await redis.stop();
    expect(await ping(LIVE_REDIS_URL)).toBe('+PONG');
  });

  it('starts nothing for a remote URL that does not answer', async () => {
    const attempt = ensureLocalRedis({ redisUrl: 'redis://redis.invalid:6379' });
    await expect(attempt).rejects.toThrow(LocalInfraError);
    await expect(attempt).rejects.toThrow(/No Redis answers at redis.invalid:6379 .*nothing was started/);
  });

  it('says how to install redis-server when it is not on PATH', async () => {
    const emptyDir = await mkdtemp(join(tmpdir(), 'switchyard-no-redis-'));
    cleanups.push(() => rm(emptyDir, { recursive: true, force: true }));
    const port = await freePort();
    const path = process.env.PATH;
    process.env.PATH = emptyDir;
    try {
      const attempt = ensureLocalRedis({ redisUrl: `redis://127.0.0.1:${port}` });
      await expect(attempt).rejects.toThrow(LocalInfraError);
      const install =
        process.platform === 'darwin' ? 'brew install redis' : 'sudo apt-get install -y redis-server';
      await expect(attempt).rejects.toThrow(install);
    } finally {
      process.env.PATH = path;
    }
    expect(await ping(`redis://127.0.0.1:${port}`)).toBe('ECONNREFUSED');
  });
});
