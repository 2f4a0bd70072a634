/**
 * Starts each role exactly as the image does (`node infra/docker/entrypoint.mjs <role>`) as a
 * plain process against the local Postgres and Redis, sends SIGTERM, and checks that it drains
 * and exits 0. The worker is stopped while a step runs: the step must finish inside the grace
 * period before the process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createPool, listMigrations } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import { StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLOW_STEP_MS } from './fixtures/drain/handlers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entrypoint = join(root, 'infra/docker/entrypoint.mjs');
const fixtures = fileURLToPath(new URL('fixtures/drain/', import.meta.url));

type Role = {
  child: ChildProcess;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
};

const running = new Set<ChildProcess>();

function startRole(role: string, env: Record<string, string>): Role {
  const child = spawn(process.execPath, [entrypoint, role], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      lines.push(line);
      for (const w of waiters.filter((w) => w.pattern.test(line))) w.resolve(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, at: Date.now() });
    }),
  );
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return resolve(seen);
      const timer = setTimeout(
        () => reject(new Error(`${role}: no ${pattern} in ${timeoutMs} ms:\n${lines.join('\n')}`)),
        timeoutMs,
      );
      waiters.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void exit.then(({ code }) =>
        reject(new Error(`${role} exited (${code}) before ${pattern}:\n${lines.join('\n')}`)),
      );
    });
  return { child, lines, waitFor, exit };
}

async function stopAndExpectClean(role: Role, withinMs: number): Promise<number> {
  const sentAt = Date.now();
  role.child.kill('SIGTERM');
  const { code, signal, at } = await role.exit;
  expect({ code, signal }, role.lines.join('\n')).toEqual({ code: 0, signal: null });
  expect(at - sentAt).toBeLessThan(withinMs);
  return at - sentAt;
}

/** Waits for the role's "started" line; its SIGTERM handler is installed before it starts. */
async function started(role: Role, pattern: RegExp): Promise<void> {
  await role.waitFor(pattern);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

let db: TestDatabase;
let redis: TestRedis;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = createTestRedis();
  env = { DATABASE_URL: db.url, REDIS_URL: redis.url, SWITCHYARD_QUEUE_PREFIX: redis.prefix };
});

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await redis.cleanup();
  await db.drop();
});

describe('the image entrypoint', () => {
  it("without a command prints its usage and exits 64; an unknown command is the CLI's usage error (exit 2)", async () => {
    const none = startRole('', env);
    expect((await none.exit).code).toBe(64);
    expect(none.lines.join('\n')).toMatch(/usage: entrypoint.mjs <api\|worker\|scheduler\|fleet/);
    const bogus = startRole('bogus', env);
    expect((await bogus.exit).code).toBe(2);
    expect(bogus.lines.join('\n')).toMatch(/unknown command 'bogus'/);
  });

  it('migrate creates a missing database, applies every migration, and is idempotent', async () => {
    const url = new URL(db.url);
    url.pathname = `/${db.name}_migrate`;
    const admin = createPool(db.url, { max: 1 });
    try {
      const first = startRole('migrate', { DATABASE_URL: url.toString() });
      expect((await first.exit).code).toBe(0);
      expect(first.lines.join('\n')).toContain(`applied ${(await listMigrations()).length} migration(s)`);
      const second = startRole('migrate', { DATABASE_URL: url.toString() });
      expect((await second.exit).code).toBe(0);
      expect(second.lines.join('\n')).toContain('database is up to date');
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${db.name}_migrate WITH (FORCE)`);
      await admin.end();
    }
  });

  it('scheduler starts, stops on SIGTERM and exits 0', async () => {
    const scheduler = startRole('scheduler', env);
    await started(scheduler, /scheduler started/);
    await stopAndExpectClean(scheduler, 10_000);
    expect(scheduler.lines.join('\n')).toContain('"signal":"SIGTERM"');
  });

  it('worker finishes its running step during the drain, then exits 0', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'switchyard-drain-')), 'started');
    const worker = startRole('worker', {
      ...env,
      SWITCHYARD_HANDLER_MODULES: join(fixtures, 'handlers.ts'),
      SWITCHYARD_TEMPLATE_PATHS: join(fixtures, 'templates'),
      SWITCHYARD_SHUTDOWN_GRACE_MS: '8000',
    });
    await started(worker, /worker started/);
    const connection = redis.connection();
    const dispatcher = new StepDispatcher({ connection, prefix: redis.prefix });
    const { task } = await createTask(
      { pool: db.pool, dispatcher },
      { namespace: 'infra_checks', name: 'drain', context: { marker } },
    );
    await dispatcher.close();
    while (!existsSync(marker)) await sleep(20);
    const startedAt = Number(readFileSync(marker, 'utf8'));
    const sentAt = Date.now();
    const drainMs = await stopAndExpectClean(worker, 8000 + 3000);
    // It exited only once the handler had run its full time (not abandoned mid-step)...
    expect(sentAt + drainMs - startedAt).toBeGreaterThanOrEqual(SLOW_STEP_MS - 50);
    // ...and its result was recorded before the process exited.
    const { rows } = await db.pool.query(
      `SELECT s.status, t.status AS task_status FROM workflow_steps s JOIN tasks t ON t.id = s.task_id WHERE s.task_id = $1`,
      [task.id],
    );
    expect(rows).toEqual([{ status: 'complete', task_status: 'complete' }]);
  });

  it('api serves /health/live, stops on SIGTERM and exits 0', async () => {
    const port = await freePort();
    const api = startRole('api', {
      ...env,
      SWITCHYARD_API_HOST: '127.0.0.1',
      SWITCHYARD_API_PORT: String(port),
      SWITCHYARD_API_AUTH_DISABLED: 'true',
    });
    let live: Response | null = null;
    for (let i = 0; i < 150 && !live?.ok; i++) {
      live = await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => null);
      if (!live?.ok) await sleep(100);
    }
    expect(live?.status).toBe(200);
    await stopAndExpectClean(api, 10_000);
  });

  it('services (the example) start on free ports, stop on SIGTERM and exit 0', async () => {
    const services = startRole('services', { EXAMPLE_SERVICES_BASE_PORT: '0' });
    const line = JSON.parse(await services.waitFor(/services started/)) as { urls: Record<string, string> };
    expect(Object.keys(line.urls).sort()).toEqual([
      'BILLING_SERVICE_URL',
      'NOTIFICATION_SERVICE_URL',
      'PREFERENCES_SERVICE_URL',
      'USER_SERVICE_URL',
    ]);
    for (const url of Object.values(line.urls)) expect((await fetch(`${url}/no-such-path`)).status).toBe(404);
    await stopAndExpectClean(services, 10_000);
  });
});
