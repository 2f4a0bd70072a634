/**
 * Delayed start and schedules across real processes: scheduler replicas (apps/scheduler) and a
 * worker (apps/worker) on a private redis-server, which the tests flush and whose processes
 * they SIGKILL.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPool, type Pool, registerTemplate } from '@switchyard/db';
import { cancelTask, createSchedule, createTask, pauseSchedule } from '@switchyard/engine';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import {
  createTestDatabase,
  startRedisServer,
  type TestDatabase,
  type TestRedisServer,
} from '@switchyard/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  recordedTemplate,
  spawnAppProcess,
  spawnWorkerProcess,
  type WorkerProcess,
  waitFor,
} from './harness.ts';

const DEADLINE_MS = 120_000;
const handlerModule = fileURLToPath(new URL('./fixtures/handlers.ts', import.meta.url));
const sideEffectsSql = readFileSync(new URL('./fixtures/side-effects.sql', import.meta.url), 'utf8');
const prefix = 'e2e-sched';

let database: TestDatabase;
let redisServer: TestRedisServer;
let pool: Pool;
let redis: Redis;
let dispatcher: StepDispatcher;
const processes: WorkerProcess[] = [];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    REDIS_URL: redisServer.url,
    SWITCHYARD_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

function spawnScheduler(): WorkerProcess {
  const scheduler = spawnAppProcess(
    'apps/scheduler/src/main.ts',
    env({
      LOG_LEVEL: 'info',
      SWITCHYARD_SCHEDULER_INTERVAL_MS: '200',
      SWITCHYARD_DISPATCH_GRACE_MS: '500',
      SWITCHYARD_SCHEDULE_POLL_MS: '200',
    }),
  );
  processes.push(scheduler);
  return scheduler;
}

function spawnWorker(): WorkerProcess {
  const worker = spawnWorkerProcess(
    env({ SWITCHYARD_HANDLER_MODULES: handlerModule, SWITCHYARD_LEASE_MS: '1500' }),
  );
  processes.push(worker);
  return worker;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await database.pool.query(sideEffectsSql);
  redisServer = await startRedisServer();
  pool = createPool(database.url, { max: 6 });
  redis = createRedisConnection(redisServer.url);
  redis.on('error', () => {});
  dispatcher = new StepDispatcher({ connection: redis, prefix });
}, DEADLINE_MS);

afterAll(async () => {
  for (const child of processes) child.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
  await dispatcher?.close();
  redis?.disconnect();
  await pool?.end();
  await redisServer?.stop();
  await database?.drop();
}, DEADLINE_MS);

describe('delayed start across processes', () => {
  it('a runAt task is visible and pending at once, and starts at runAt (not before) after a FLUSHALL and a worker restart', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    const scheduler = spawnScheduler();
    let worker = spawnWorker();
    const template = recordedTemplate('delayed');
    await registerTemplate(pool, template);
    // Both processes must be up before the clock starts, so what is measured is the delay.
    await waitFor('the scheduler to start', async () => scheduler.output().includes('scheduler started'));
    await waitFor('the worker to register', async () => {
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM workers');
      return rows[0].n >= 1;
    });
    const runAt = new Date(Date.now() + 6_000);
    const { task } = await createTask(
      { pool, dispatcher },
      { namespace: 'e2e', name: 'delayed', context: {}, runAt },
    );
    const cancellable = await createTask(
      { pool, dispatcher },
      { namespace: 'e2e', name: 'delayed', context: {}, runAt },
    );
    expect(task.status).toBe('pending');

    // Redis loses the delayed jobs, and the worker dies, long before runAt.
    await redis.flushall();
    worker.child.kill('SIGKILL');
    await worker.exited;
    worker = spawnWorker();
    const { rows: before } = await pool.query('SELECT status FROM tasks WHERE id = $1', [task.id]);
    expect(before[0].status).toBe('pending');
    await cancelTask({ pool, redis, queuePrefix: prefix }, cancellable.task.id, { actor: 'test' });

    await waitFor(
      'the delayed task to complete',
      async () =>
        (await pool.query('SELECT status FROM tasks WHERE id = $1', [task.id])).rows[0].status === 'complete',
      DEADLINE_MS,
    );
    const { rows } = await pool.query(
      `SELECT a.started_at FROM step_attempts a WHERE a.task_id = $1 AND a.attempt = 1`,
      [task.id],
    );
    const startedAt = rows[0].started_at as Date;
    console.info(
      `[measure] delayed task started ${startedAt.getTime() - runAt.getTime()} ms after its runAt`,
    );
    expect(startedAt.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
    const cancelledRan = await pool.query('SELECT count(*)::int AS n FROM side_effects WHERE task_id = $1', [
      cancellable.task.id,
    ]);
    expect(cancelledRan.rows[0].n).toBe(0);
    scheduler.child.kill('SIGKILL');
    await scheduler.exited;
  });
});

describe('a schedule with two scheduler processes, one SIGKILLed mid-way', () => {
  it('every second for 10 s makes exactly 10 tasks, one per tick', { timeout: 3 * DEADLINE_MS }, async () => {
    const template = recordedTemplate('every_second');
    await registerTemplate(pool, template);
    const first = spawnScheduler();
    const second = spawnScheduler();
    await waitFor('both schedulers to start', async () =>
      [first, second].every((p) => p.output().includes('scheduler started')),
    );
    const schedule = await createSchedule(
      pool,
      { namespace: 'e2e', name: 'every_second', cron: '* * * * * *', context: {}, overlap: 'allow' },
      'test',
    );
    // The window: ten whole-second ticks, starting two seconds from now.
    const windowStart = new Date(Math.ceil((Date.now() + 2_000) / 1_000) * 1_000);
    const windowEnd = new Date(windowStart.getTime() + 10_000);
    const ticksIn = async () =>
      (
        await pool.query(
          `SELECT schedule_tick_at AS tick, count(*)::int AS n FROM tasks
            WHERE schedule_id = $1 AND schedule_tick_at >= $2 AND schedule_tick_at < $3
            GROUP BY schedule_tick_at ORDER BY 1`,
          [schedule.id, windowStart, windowEnd],
        )
      ).rows as { tick: Date; n: number }[];

    // Kill one replica mid-way through the window, whatever it is doing at that moment.
    await waitFor('the window to be half done', async () => (await ticksIn()).length >= 5);
    first.child.kill('SIGKILL');
    await first.exited;

    await waitFor(
      'the last tick of the window',
      async () =>
        (await pool.query('SELECT last_tick_at FROM schedules WHERE id = $1', [schedule.id])).rows[0]
          .last_tick_at >= windowEnd,
      DEADLINE_MS,
    );
    await pauseSchedule(pool, schedule.id);
    const ticks = await ticksIn();
    expect(ticks.map((t) => t.tick.getTime() - windowStart.getTime())).toEqual(
      Array.from({ length: 10 }, (_, i) => i * 1_000),
    );
    expect(ticks.every((t) => t.n === 1)).toBe(true);
    // And over the schedule's whole life: never two tasks for one tick.
    const { rows } = await pool.query(
      `SELECT count(*)::int AS tasks, count(DISTINCT schedule_tick_at)::int AS ticks FROM tasks WHERE schedule_id = $1`,
      [schedule.id],
    );
    expect(rows[0].tasks).toBe(rows[0].ticks);
    const recorded = await pool.query(
      `SELECT count(*)::int AS n FROM schedule_ticks WHERE schedule_id = $1 AND outcome = 'created'`,
      [schedule.id],
    );
    expect(recorded.rows[0].n).toBe(rows[0].tasks);
  });
});
