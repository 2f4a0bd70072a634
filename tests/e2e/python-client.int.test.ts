/**
 * A service in another language: a Python script using only the standard library drives a task's
 * whole lifecycle through a real API process, with a real worker process and a scheduler doing
 * the work, on a database and redis-server of this file's own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createApiKey, registerTemplate } from '@switchyard/db';
import { freePort } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Fleet,
  recordedTemplate,
  spawnAppProcess,
  startFleet,
  type WorkerProcess,
  waitFor,
} from './harness.ts';

const script = fileURLToPath(new URL('./fixtures/python_client.py', import.meta.url));
const template = recordedTemplate('python-client', 2);

let fleet: Fleet;
let api: WorkerProcess;
let apiUrl: string;
let apiKey: string;

beforeAll(async () => {
  fleet = await startFleet();
  await registerTemplate(fleet.pool, template);
  fleet.spawnWorker();
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  api = spawnAppProcess('apps/api/src/main.ts', {
    DATABASE_URL: fleet.databaseUrl,
    REDIS_URL: fleet.redisServer.url,
    SWITCHYARD_QUEUE_PREFIX: 'e2e',
    SWITCHYARD_API_HOST: '127.0.0.1',
    SWITCHYARD_API_PORT: String(port),
    LOG_LEVEL: 'warn',
  });
  // A spawned API loads its TypeScript through tsx: on a busy machine that takes a while.
  await waitFor(
    'the API to be ready',
    async () => {
      const ready = await fetch(`${apiUrl}/health/ready`).catch(() => null);
      return ready?.ok || api.child.exitCode !== null;
    },
    45_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the API said:\n${api.output()}`);
  });
  expect(api.child.exitCode, api.output()).toBeNull();
  ({ key: apiKey } = await createApiKey(fleet.pool, {
    name: 'python-service',
    scopes: ['tasks:write', 'tasks:read', 'operate'],
    namespaces: [],
    createdBy: 'test',
  }));
}, 90_000);

afterAll(async () => {
  api?.child.kill('SIGTERM');
  await api?.exited;
  await fleet?.close();
});

/** Runs the script to its end: its exit code and its one line of JSON. */
async function runScript(env: Record<string, string>, args: string[] = []) {
  const child = spawn('python3', [script, '--namespace', 'e2e', '--name', template.name, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  // biome-ignore lint/suspicious/noExplicitAny: the script's report is checked field by field
  let report: any = null;
  try {
    report = JSON.parse(stdout);
  } catch {}
  return { code, report, stdout, stderr };
}

describe('a Python service using only the standard library', () => {
  it('creates with an idempotency key, reads, waits for completion, cancels, and reads problem documents', async () => {
    const run = await runScript(
      { SWITCHYARD_API_URL: apiUrl, SWITCHYARD_API_KEY: apiKey },
      // The recorded handler sleeps this long, so the second task is still running when cancelled.
      ['--slow-context', JSON.stringify({ sleepMs: 60_000 }), '--timeout', '60'],
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.report).toMatchObject({
      ok: true,
      created: { duplicateAnsweredSameTask: true },
      completed: { status: 'complete', steps: ['complete', 'complete'] },
      cancelled: { status: 'cancelled', cancelAgain: 409 },
      problems: {
        badRequest: { status: 400, paths: expect.arrayContaining(['/name']) },
        unauthorized: 'Bearer realm="switchyard"',
        notFound: 404,
      },
    });
    // What the API said is what the database (this file's own) holds: two tasks, the repeated key made none.
    const { rows } = await fleet.pool.query('SELECT id, status FROM tasks ORDER BY created_at');
    expect(rows).toEqual([
      { id: run.report.created.id, status: 'complete' },
      { id: run.report.cancelled.id, status: 'cancelled' },
    ]);
  }, 120_000);

  it('exits 1 naming the check that failed when the API refuses it', async () => {
    const run = await runScript({ SWITCHYARD_API_URL: apiUrl, SWITCHYARD_API_KEY: 'sy_unknown_key' });
    expect(run.code).toBe(1);
    expect(run.report).toEqual({ ok: false, failed: 'first create answers 201 (got 401)' });
  });
});
