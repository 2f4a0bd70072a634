import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLocalPostgres, LocalInfraError, type LocalPostgres } from './index.ts';
import { canAccess, choosePort, waitFor } from './machine.ts';

const LIVE_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A temporary directory the `postgres` user can reach (mkdtemp makes it 0700, owned by us). */
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-local-pg-'));
  await chmod(dir, 0o755);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `select 1` on `url`; the error message when it cannot connect. */
async function selectOne(url: string): Promise<number | string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query('select 1 as one')).rows[0].one;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Starts through ensureLocalPostgres, stopping it at the end of the file whatever happens. */
async function ensure(databaseUrl: string, dataDir: string, lines: string[]): Promise<LocalPostgres> {
  const local = await ensureLocalPostgres({ databaseUrl, dataDir, log: (l) => lines.push(l) });
  cleanups.push(local.stop);
  return local;
}

describe('ensureLocalPostgres', () => {
  it('starts the embedded Postgres when nothing answers at a loopback URL, and reuses its data', async () => {
    const dataDir = join(await tempDir(), 'postgres');
    const port = await choosePort(0);
    const lines: string[] = [];
    const first = await ensure(`postgresql://postgres@localhost:${port}/postgres`, dataDir, lines);
    expect(first).toMatchObject({
      started: true,
      databaseUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    });
    expect(await selectOne(first.databaseUrl)).toBe(1);
    await first.stop();
    expect(await waitFor(async () => typeof (await selectOne(first.databaseUrl)) === 'string', 10_000)).toBe(
      true,
    );

    const second = await ensure(`postgresql://postgres@127.0.0.1:${port}/postgres`, dataDir, lines);
    expect(second).toMatchObject({ started: true, databaseUrl: first.databaseUrl });
    expect(await selectOne(second.databaseUrl)).toBe(1);
    await second.stop();
    expect(await selectOne(second.databaseUrl)).toMatch(/ECONNREFUSED/);
    // The measured start times are in these lines (the first includes initdb).
    console.log(lines.join('\n'));
    expect(lines).toEqual([
      expect.stringMatching(
        `^no Postgres at localhost:${port}; started an embedded PostgreSQL 18 in .*\\(port ${port}, new data directory, \\d+ ms\\)$`,
      ),
      expect.stringMatching(
        `started an embedded PostgreSQL 18 .*\\(port ${port}, data from an earlier run, \\d+ ms\\)$`,
      ),
    ]);
  });

  it('stop() returns when the server has already exited (a Ctrl-C reaches it directly)', async () => {
    const dataDir = join(await tempDir(), 'postgres');
    const local = await ensure(
      `postgresql://postgres@127.0.0.1:${await choosePort(0)}/postgres`,
      dataDir,
      [],
    );
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGINT');
    expect(await waitFor(async () => !(await canAccess(join(dataDir, 'postmaster.pid'))), 10_000)).toBe(true);
    await local.stop();
  });

  it('uses a Postgres that answers and starts nothing', async () => {
    const dataDir = join(await tempDir(), 'postgres');
    const lines: string[] = [];
    const local = await ensure(LIVE_DATABASE_URL, dataDir, lines);
    expect(local).toMatchObject({ started: false, databaseUrl: LIVE_DATABASE_URL });
    expect(lines).toEqual([]);
    expect(await canAccess(dataDir)).toBe(false);
  });

  it('counts a missing database as an answer: the server is there', async () => {
    const url = new URL(LIVE_DATABASE_URL);
    url.pathname = '/switchyard_missing_database';
    const local = await ensure(url.toString(), join(await tempDir(), 'postgres'), []);
    expect(local.started).toBe(false);
  });

  it('fails fast for a remote URL that does not answer, and starts nothing', async () => {
    const dataDir = join(await tempDir(), 'postgres');
    const started = Date.now();
    const attempt = ensureLocalPostgres({
      databaseUrl: 'postgresql://postgres@db.invalid:5432/switchyard',
      dataDir,
    });
    await expect(attempt).rejects.toThrow(LocalInfraError);
    await expect(attempt).rejects.toThrow(/No Postgres answers at db.invalid:5432 .*nothing was started/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await canAccess(dataDir)).toBe(false);
  });
});
