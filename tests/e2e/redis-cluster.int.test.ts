/**
 * Switchyard on a real Redis Cluster: three masters started for this file, a worker process and
 * an API process configured the way a deployment is (REDIS_URL naming one node, with its
 * password, REDIS_CLUSTER=true, a hash-tagged prefix), and a scheduler on the same connection.
 */
import { readFileSync } from 'node:fs';
import type { TaskTemplate } from '@switchyard/core';
import { createPool, type Pool, registerTemplate } from '@switchyard/db';
import { cancelTask, createTask, type RunningScheduler, startScheduler } from '@switchyard/engine';
import {
  createRedisClusterConnection,
  type RedisConnection,
  StepConsumer,
  StepDispatcher,
} from '@switchyard/queue';
import {
  createTestDatabase,
  freePort,
  startRedisCluster,
  type TestDatabase,
  type TestRedisCluster,
} from '@switchyard/testing';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  logger,
  recordedTemplate,
  spawnAppProcess,
  spawnWorkerProcess,
  type WorkerProcess,
  waitFor,
} from './harness.ts';

const PREFIX = '{switchyard}';
// Generous deadlines: on a loaded machine the cluster and the processes take many times longer
// to come up, and only a wait that never ends is a failure. Figures are printed, not asserted.
const DEADLINE_MS = 120_000;
const handlerModule = new URL('./fixtures/handlers.ts', import.meta.url).pathname;
const sideEffectsSql = readFileSync(new URL('./fixtures/side-effects.sql', import.meta.url), 'utf8');

let cluster: TestRedisCluster;
let database: TestDatabase;
let pool: Pool;
let redis: Cluster;
let dispatcher: StepDispatcher;
let scheduler: RunningScheduler;
const processes: WorkerProcess[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ password: 'cluster-secret' });
  database = await createTestDatabase();
  await database.pool.query(sideEffectsSql);
  pool = createPool(database.url, { max: 10 });
  // The production path: a seed URL with the password, parsed into per-node options.
  redis = createRedisClusterConnection(cluster.url);
  redis.on('error', () => {});
  dispatcher = new StepDispatcher({ connection: redis, prefix: PREFIX });
  scheduler = await startScheduler({
    pool,
    databaseUrl: database.url,
    redis,
    queuePrefix: PREFIX,
    logger,
    intervalMs: 200,
    dispatchGraceMs: 500,
  });
}, 2 * DEADLINE_MS);

afterAll(async () => {
  for (const child of processes) child.child.kill('SIGKILL');
  await Promise.all(processes.map((child) => child.exited));
  await scheduler?.stop();
  await dispatcher?.close();
  redis?.disconnect();
  await pool?.end();
  await cluster?.stop();
  await database?.drop();
}, DEADLINE_MS);

const clusterEnv = () => ({
  DATABASE_URL: database.url,
  REDIS_URL: cluster.url,
  REDIS_CLUSTER: 'true',
  SWITCHYARD_QUEUE_PREFIX: PREFIX,
  LOG_LEVEL: 'warn',
});

function spawnWorker(env: Record<string, string> = {}): WorkerProcess {
  const worker = spawnWorkerProcess({
    ...clusterEnv(),
    SWITCHYARD_HANDLER_MODULES: handlerModule,
    SWITCHYARD_LEASE_MS: '30000',
    SWITCHYARD_CONCURRENCY: '20',
    ...env,
  });
  processes.push(worker);
  return worker;
}

async function createTasks(template: TaskTemplate, count: number, context: object): Promise<string[]> {
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
}

async function statusCounts(ids: string[]): Promise<Record<string, number>> {
  const { rows } = await pool.query(
    'SELECT status, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY status',
    [ids],
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

async function completedOnce(ids: string[]): Promise<{ steps: number; notOnce: number }> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM side_effects WHERE kind = 'completed' AND task_id = ANY($1)
      GROUP BY task_id, step_name`,
    [ids],
  );
  return { steps: rows.length, notOnce: rows.filter((row) => row.n !== 1).length };
}

/** Every key under `pattern` on every master of the cluster. */
async function clusterKeys(connection: Cluster, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of connection.nodes('master')) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

async function slotsOf(connection: RedisConnection, keys: string[]): Promise<Set<number>> {
  const slots = new Set<number>();
  for (const key of keys) slots.add(Number(await connection.cluster('KEYSLOT', key)));
  return slots;
}

describe('Switchyard on a Redis Cluster of three masters', () => {
  const early: string[] = [];

  it('serves readiness and queue depth through the API process', { timeout: 3 * DEADLINE_MS }, async () => {
    const port = await freePort();
    const api = spawnAppProcess('apps/api/src/main.ts', {
      ...clusterEnv(),
      SWITCHYARD_API_HOST: '127.0.0.1',
      SWITCHYARD_API_PORT: String(port),
    });
    processes.push(api);
    // No worker yet: the jobs stay waiting in the step type's queue.
    early.push(...(await createTasks(recordedTemplate('cluster-early', 3), 20, { sleepMs: 5 })));

    // Ready is a condition: a loaded machine may answer 503 while the API's connections come up.
    let last = 'no answer';
    const ready = await waitFor(
      'the API to be ready',
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
        if (!response) return null;
        const body = await response.json();
        last = `${response.status} ${JSON.stringify(body)}`;
        return response.status === 200 ? body : null;
      },
      DEADLINE_MS,
    ).catch((err) => {
      throw new Error(`${err.message}; last answer: ${last}`);
    });
    expect(ready).toMatchObject({ status: 'ok', checks: { redis: { ok: true } } });
    const depth = await waitFor(
      'the queue depth gauge',
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /switchyard_queue_depth\{step_type="recorded",state="wait"\} (\d+)/.exec(text)?.[1];
      },
      DEADLINE_MS,
    );
    expect(Number(depth)).toBe(20);
  });

  it('runs workflows on a worker process and repairs a FLUSHALL of every master', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    spawnWorker();
    const ids = await createTasks(recordedTemplate('cluster-flushed', 3), 150, { sleepMs: 20 });
    await waitFor(
      'a third of the tasks to complete',
      async () => ((await statusCounts(ids)).complete ?? 0) >= 50,
      DEADLINE_MS,
    );

    const before = scheduler.repairs().job_missing;
    await cluster.flushAll();
    const all = [...early, ...ids];
    await waitFor(
      'every task to complete',
      async () => (await statusCounts(all)).complete === all.length,
      DEADLINE_MS,
    );

    const repaired = scheduler.repairs().job_missing - before;
    console.info(
      `[measure] Redis Cluster FLUSHALL lost ${repaired} queued steps; all ${all.length} tasks completed`,
    );
    expect(repaired).toBeGreaterThan(0);
    expect(await completedOnce(all)).toEqual({ steps: all.length * 3, notOnce: 0 });
  });

  it('announces a cancellation over pub/sub to the worker running the task', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    // Lease 30 s and step timeout 60 s: renewal (every 20 s) cannot be what aborts the handler.
    const [taskId] = await createTasks(recordedTemplate('cluster-cancelled', 1, 60_000), 1, {
      sleepMs: 60_000,
    });
    await waitFor(
      'the step to start',
      async () => {
        const { rowCount } = await pool.query(`SELECT 1 FROM side_effects WHERE task_id = $1`, [taskId]);
        return rowCount === 1;
      },
      DEADLINE_MS,
    );
    const cancelledAt = Date.now();
    await cancelTask({ pool, redis, queuePrefix: PREFIX, logger }, taskId!, { actor: 'test' });
    const attempt = await waitFor(
      'the aborted attempt to be recorded',
      async () => {
        const { rows } = await pool.query(
          'SELECT stale, started_at, finished_at FROM step_attempts WHERE task_id = $1',
          [taskId],
        );
        return rows[0];
      },
      DEADLINE_MS,
    );
    const abortedAfterMs = attempt.finished_at.getTime() - cancelledAt;
    console.info(`[measure] Redis Cluster: cancelled handler aborted ${abortedAfterMs} ms after cancelTask`);
    expect(attempt.stale).toBe(true);
    // The lease (60 s, the step's timeout) is first renewed 20 s after the start: an attempt that
    // ended sooner was aborted by the announcement, however slow the machine made the rest.
    expect(attempt.finished_at.getTime() - attempt.started_at.getTime()).toBeLessThan(20_000);
  });

  it('keeps every key of every queue in the hash tag’s one slot, whatever state its jobs are in', {
    timeout: 2 * DEADLINE_MS,
  }, async () => {
    // A queue nobody consumes (waiting jobs), a delayed job, and one consumed with a job in flight.
    await dispatcher.dispatch([
      { handler: 'nobody_serves', stepId: 'a', taskId: 't', attempt: 1 },
      { handler: 'nobody_serves', stepId: 'b', taskId: 't', attempt: 1, delayMs: 600_000 },
    ]);
    let release = () => {};
    const consumer = new StepConsumer({
      connection: redis,
      prefix: PREFIX,
      handlers: ['held_in_flight'],
      concurrency: 1,
      process: () => new Promise<void>((resolve) => (release = resolve)),
    });
    await consumer.waitUntilReady();
    await dispatcher.dispatch([{ handler: 'held_in_flight', stepId: 'c', taskId: 't', attempt: 1 }]);
    await waitFor(
      'the job to be active',
      async () => (await dispatcher.queue('held_in_flight').getActiveCount()) === 1,
      DEADLINE_MS,
    );

    const keys = await clusterKeys(redis, `${PREFIX}:*`);
    const suffixes = new Set(
      keys.map((key) =>
        key
          .split(':')
          .slice(2)
          .join(':')
          .replace(/^[0-9a-f-]+\.\d+$/, '<job>'),
      ),
    );
    expect([...suffixes]).toEqual(
      expect.arrayContaining(['prioritized', 'delayed', 'active', 'meta', 'id', '<job>']),
    );
    const queues = new Set(keys.map((key) => key.split(':')[1]));
    expect([...queues]).toEqual(
      expect.arrayContaining(['step.recorded', 'step.nobody_serves', 'step.held_in_flight']),
    );
    expect(await slotsOf(redis, keys)).toEqual(
      new Set([Number(await redis.cluster('KEYSLOT', PREFIX.slice(1, -1)))]),
    );
    // Without the braces the same keys would be spread over many slots: the tag is what holds them.
    expect(
      (
        await slotsOf(
          redis,
          keys.map((key) => key.replace(PREFIX, 'switchyard')),
        )
      ).size,
    ).toBeGreaterThan(1);

    release();
    await consumer.close();
  });

  it('refuses to start a worker with a prefix that has no hash tag', {
    timeout: 2 * DEADLINE_MS,
  }, async () => {
    const refused = spawnWorker({ SWITCHYARD_QUEUE_PREFIX: 'switchyard' });
    expect(await refused.exited).toBe(78);
    expect(refused.output()).toContain('SWITCHYARD_QUEUE_PREFIX: must hold a hash tag such as {switchyard}');
    expect(() => new StepDispatcher({ connection: redis, prefix: 'switchyard' })).toThrow(/no hash tag/);
  });
});
