import { ValidationError } from '@switchyard/core';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { deleteKeys } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cancelTask } from '../src/cancel-task.ts';
import { startScheduler } from '../src/scheduler.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
const started = new Map<string, Date>();
const template = testTemplate({
  identity_strategy: 'unique',
  steps: [
    { name: 'first', handler: 'delayed_first' },
    { name: 'second', handler: 'delayed_second', depends_on: ['first'] },
  ],
});

beforeAll(async () => {
  h = await createEngineHarness();
  await h.start(
    [
      defineStepHandler('delayed_first', (ctx) => {
        started.set(ctx.task.id, new Date());
        return { ok: true };
      }),
      defineStepHandler('delayed_second', () => ({ ok: true })),
    ],
    [template],
  );
});
afterAll(() => h.close());

const create = (runAt?: Date) =>
  h.create({ namespace: 'test', name: template.name, context: {}, ...(runAt ? { runAt } : {}) });

async function databaseUrl(): Promise<string> {
  const name = (await h.pool.query('SELECT current_database() AS db')).rows[0].db as string;
  const base = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  return base.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
}

async function firstAttemptStart(taskId: string): Promise<Date> {
  const attempts = await h.attempts(taskId);
  const first = attempts.find((a) => a.step === 'first' && a.attempt === 1);
  if (!first) throw new Error('no first attempt');
  return first.started_at;
}

describe('delayed start (runAt)', () => {
  it('the task exists at once, pending, and its root step starts at runAt, not before, within a second', async () => {
    const runAt = new Date(Date.now() + 2_000);
    const { task } = await create(runAt);
    expect(task.status).toBe('pending');
    expect(task.runAt?.toISOString()).toBe(runAt.toISOString());
    const steps = await h.steps(task.id);
    expect(steps.find((s) => s.name === 'first')).toMatchObject({ status: 'enqueued', attempts: 0 });
    expect(steps.find((s) => s.name === 'first')?.next_attempt_at?.toISOString()).toBe(runAt.toISOString());
    const { rows } = await h.pool.query(
      `SELECT reason FROM step_audit WHERE task_id = $1 AND from_status IS NULL AND to_status = 'enqueued'`,
      [task.id],
    );
    expect(rows[0].reason).toBe(`created; no dependencies; not before ${runAt.toISOString()}`);

    expect(await h.waitForTask(task.id)).toBe('complete');
    const startedAt = await firstAttemptStart(task.id);
    expect(startedAt.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
    expect(startedAt.getTime() - runAt.getTime()).toBeLessThan(1_000);
  });

  it('a delayed task can be cancelled before it starts: nothing runs', async () => {
    const { task } = await create(new Date(Date.now() + 1_500));
    const cancelled = await cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, task.id, {
      actor: 'operator',
    });
    expect(cancelled.from).toBe('pending');
    // Past its start time the job is delivered and dropped by the fence.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(started.has(task.id)).toBe(false);
    expect(await h.attempts(task.id)).toEqual([]);
    expect((await h.steps(task.id)).map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
  });

  it('a runAt in the past starts at once; one more than a year ahead is refused with nothing created', async () => {
    const { task } = await create(new Date(Date.now() - 60_000));
    expect(task.runAt).toBeNull();
    expect(await h.waitForTask(task.id)).toBe('complete');
    const before = await h.pool.query('SELECT count(*)::int AS n FROM tasks');
    const farAhead = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    const refused = await create(farAhead).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues[0]).toMatchObject({ path: '/runAt', rule: 'max_delay' });
    expect((refused as Error).message).toMatch(/more than a year ahead/);
    const after = await h.pool.query('SELECT count(*)::int AS n FROM tasks');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('the same identity returns the first task whatever runAt the repeat asks', async () => {
    const runAt = new Date(Date.now() + 1_000);
    const first = await h.create({
      namespace: 'test',
      name: template.name,
      context: {},
      idempotencyKey: 'delayed-once',
      runAt,
    });
    const again = await h.create({
      namespace: 'test',
      name: template.name,
      context: {},
      idempotencyKey: 'delayed-once',
      runAt: new Date(Date.now() + 60_000),
    });
    expect(again.duplicate).toBe(true);
    expect(again.task.id).toBe(first.task.id);
    expect(again.task.runAt?.toISOString()).toBe(runAt.toISOString());
    expect(await h.waitForTask(first.task.id)).toBe('complete');
  });

  it('survives the loss of its job: the scheduler re-adds it with the delay left, and it still starts on time', async () => {
    const scheduler = await startScheduler({
      pool: h.pool,
      databaseUrl: await databaseUrl(),
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 100,
      dispatchGraceMs: 100,
      schedulePollMs: 60_000,
    });
    const runAt = new Date(Date.now() + 3_000);
    const { task } = await create(runAt);
    // The delayed job is lost (as in a FLUSHALL) long before its time.
    await deleteKeys(h.redis, `${h.prefix}:*`);
    try {
      await vi.waitFor(
        async () => {
          if (scheduler.repairs().job_missing < 1) await scheduler.sweep();
          expect(scheduler.repairs().job_missing).toBeGreaterThanOrEqual(1);
        },
        { timeout: 10_000, interval: 100 },
      );
      expect(Date.now()).toBeLessThan(runAt.getTime());
      expect(await h.waitForTask(task.id)).toBe('complete');
      const startedAt = await firstAttemptStart(task.id);
      expect(startedAt.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
      expect(startedAt.getTime() - runAt.getTime()).toBeLessThan(1_000);
    } finally {
      await scheduler.stop();
    }
  });
});
