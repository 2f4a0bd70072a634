import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { authenticateApiKey } from '@switchyard/db';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY_TTL_MS, withDemoKey } from '../../examples/user-registration/src/demo/demo-key.ts';

// The demo makes an admin key on every run: it must not outlive the run.
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const keyRow = async (name: string) =>
  (
    await database.pool.query(
      'SELECT scopes, expires_at AS "expiresAt", revoked_at AS "revokedAt" FROM api_keys WHERE name = $1',
      [name],
    )
  ).rows[0];

describe("the demo's API key", () => {
  it('is a short-lived admin key while the run lasts, revoked when it ends', async () => {
    const before = Date.now();
    const used = await withDemoKey(database.pool, 'demo-ok', async (key) => {
      expect(await authenticateApiKey(database.pool, key)).toMatchObject({ scopes: ['admin'] });
      const row = await keyRow('demo-ok');
      expect(row.revokedAt).toBeNull();
      expect(row.expiresAt.getTime()).toBeGreaterThanOrEqual(before + DEMO_KEY_TTL_MS);
      expect(row.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + DEMO_KEY_TTL_MS);
      return key;
    });
    expect((await keyRow('demo-ok')).revokedAt).toBeInstanceOf(Date);
    expect(await authenticateApiKey(database.pool, used)).toBeNull();
  });

  it('is revoked when the run fails too', async () => {
    let used = '';
    await expect(
      withDemoKey(database.pool, 'demo-failed', async (key) => {
        used = key;
        throw new Error('the fleet did not start');
      }),
    ).rejects.toThrow('the fleet did not start');
    expect((await keyRow('demo-failed')).revokedAt).toBeInstanceOf(Date);
    expect(await authenticateApiKey(database.pool, used)).toBeNull();
  });

  it('is revoked when SIGINT ends the run, and the process exits 130', async () => {
    const script = `
      import { createPool } from '@switchyard/db';
      import { withDemoKey } from ${JSON.stringify(fileURLToPath(new URL('../../examples/user-registration/src/demo/demo-key.ts', import.meta.url)))};
      const pool = createPool(${JSON.stringify(database.url)}, { max: 1 });
      await withDemoKey(pool, 'demo-interrupted', async () => {
        console.log('running');
        await new Promise(() => {});
      });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../../examples/user-registration/', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('running')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited ${code} before running`)));
    });
    expect((await keyRow('demo-interrupted')).revokedAt).toBeNull();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect((await keyRow('demo-interrupted')).revokedAt).toBeInstanceOf(Date);
  });
});
