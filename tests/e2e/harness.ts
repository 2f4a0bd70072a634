import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineTemplate, type TaskTemplate } from '@switchyard/core';
import { createPool, type Pool, registerTemplate } from '@switchyard/db';
import { createTask, type RunningScheduler, startScheduler } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, startRedisServer, type TestRedisServer, waitFor } from '@switchyard/testing';
import type { Redis } from 'ioredis';

/** The e2e tests wait on conditions through the shared poll (see @switchyard/testing). */
export { waitFor };

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const handlerModule = fileURLToPath(new URL('./fixtures/handlers.ts', import.meta.url));
const sideEffectsSql = readFileSync(new URL('./fixtures/side-effects.sql', import.meta.url), 'utf8');

export const logger = createLogger({ name: 'e2e', level: process.env.LOG_LEVEL ?? 'silent' });

/** A linear template of `recorded` steps (see fixtures/handlers.ts). */
export function recordedTemplate(name: string, steps = 1, timeoutMs = 2_000): TaskTemplate {
  return defineTemplate({
    namespace: 'e2e',
    name,
    version: '1.0.0',
    default_dependent_system: 'fixture',
    identity_strategy: 'unique',
    retry: { max_attempts: 3, backoff_base_ms: 50, backoff_cap_ms: 200 },
    steps: Array.from({ length: steps }, (_, i) => ({
      name: `s${i + 1}`,
      handler: 'recorded',
      timeout_ms: timeoutMs,
      depends_on: i === 0 ? [] : [`s${i}`],
    })),
  });
}

/** A database, a private redis-server, a scheduler in this process, and worker processes. */
export type Fleet = {
  pool: Pool;
  redis: Redis;
  redisServer: TestRedisServer;
  dispatcher: StepDispatcher;
  scheduler: RunningScheduler;
  databaseUrl: string;
  /** Spawns a real worker process (apps/worker) serving the fixture handlers. */
  spawnWorker(env?: Record<string, string>): WorkerProcess;
  createTasks(template: TaskTemplate, count: number, context?: object): Promise<string[]>;
  waitForTasks(ids: string[], timeoutMs: number): Promise<void>;
  sideEffects(kind: string): Promise<{ task_id: string; step_name: string; attempt: number; pid: number }[]>;
  close(): Promise<void>;
};

export type WorkerProcess = { child: ChildProcess; exited: Promise<number | null>; output: () => string };

export async function startFleet(options: { schedulerIntervalMs?: number } = {}): Promise<Fleet> {
  const database = await createTestDatabase();
  await database.pool.query(sideEffectsSql);
  const redisServer = await startRedisServer();
  const pool = createPool(database.url, { max: 10 });
  const redis = createRedisConnection(redisServer.url);
  redis.on('error', () => {});
  const prefix = 'e2e';
  const dispatcher = new StepDispatcher({ connection: redis, prefix });
  const scheduler = await startScheduler({
    pool,
    databaseUrl: database.url,
    redis,
    queuePrefix: prefix,
    logger,
    intervalMs: options.schedulerIntervalMs ?? 200,
    dispatchGraceMs: 500,
  });
  const workers: WorkerProcess[] = [];
  return {
    pool,
    redis,
    redisServer,
    dispatcher,
    scheduler,
    databaseUrl: database.url,
    spawnWorker(env = {}) {
      const worker = spawnWorkerProcess({
        DATABASE_URL: database.url,
        REDIS_URL: redisServer.url,
        SWITCHYARD_QUEUE_PREFIX: prefix,
        SWITCHYARD_HANDLER_MODULES: handlerModule,
        SWITCHYARD_LEASE_MS: '1500',
        LOG_LEVEL: 'warn',
        ...env,
      });
      workers.push(worker);
      return worker;
    },
    async createTasks(template, count, context = {}) {
      await registerTemplate(pool, template);
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const { task } = await createTask(
          { pool, dispatcher },
          { namespace: 'e2e', name: template.name, context },
        );
        ids.push(task.id);
      }
      return ids;
    },
    async waitForTasks(ids, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await pool.query(
          `SELECT status, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY status`,
          [ids],
        );
        const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
        if (counts.complete === ids.length) return;
        if (Date.now() > deadline)
          throw new Error(`tasks not complete after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
        await sleep(100);
      }
    },
    async sideEffects(kind) {
      const { rows } = await pool.query(
        'SELECT task_id, step_name, attempt, pid FROM side_effects WHERE kind = $1',
        [kind],
      );
      return rows;
    },
    async close() {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await Promise.all(workers.map((worker) => worker.exited));
      await scheduler.stop();
      await dispatcher.close();
      redis.disconnect();
      await pool.end();
      await redisServer.stop();
      await database.drop();
    },
  };
}

/** Spawns a real worker process (apps/worker) with `env` on top of this process's environment. */
export function spawnWorkerProcess(env: Record<string, string>): WorkerProcess {
  return spawnAppProcess('apps/worker/src/main.ts', env);
}

/**
 * Spawns an app's main (a path from `cwd`, the repository root by default) as its own process,
 * output captured. `nodeArgs` go to node before the main (loader flags, for example).
 */
export function spawnAppProcess(
  main: string,
  env: Record<string, string>,
  { cwd = repoRoot, nodeArgs = [] }: { cwd?: string; nodeArgs?: string[] } = {},
): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, main], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
