import { NotFoundError, ValidationError } from '@switchyard/core';
import { getTaskDetail, listScheduleTicks } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningScheduler, startScheduler } from '../src/scheduler.ts';
import { createSchedule, deleteSchedule, pauseSchedule, resumeSchedule } from '../src/schedules.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
let scheduler: RunningScheduler;
let other: RunningScheduler;
const release = new Set<string>();

const quick = testTemplate({
  context_schema: {
    type: 'object',
    properties: { plan: { type: 'string', enum: ['free', 'pro'] } },
    required: ['plan'],
  },
  steps: [{ name: 'only', handler: 'sch_quick' }],
});
// Runs until the test releases its task (or the task is cancelled).
const held = testTemplate({ steps: [{ name: 'only', handler: 'sch_held' }] });

async function databaseUrl(): Promise<string> {
  const name = (await h.pool.query('SELECT current_database() AS db')).rows[0].db as string;
  const base = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  return base.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
}

beforeAll(async () => {
  h = await createEngineHarness();
  await h.start(
    [
      defineStepHandler('sch_quick', () => ({ ok: true })),
      defineStepHandler('sch_held', async (ctx) => {
        while (!release.has(ctx.task.id) && !ctx.signal.aborted) await new Promise((r) => setTimeout(r, 20));
        return { ok: true };
      }),
    ],
    [quick, held],
  );
  // Polls only when a test asks (tickSchedules), so each test controls when ticks fire.
  const options = {
    pool: h.pool,
    databaseUrl: await databaseUrl(),
    redis: h.redis,
    queuePrefix: h.prefix,
    logger: createLogger({ name: 'test', level: 'silent' }),
    intervalMs: 60_000,
    schedulePollMs: 60_000,
    scheduleGraceMs: 0,
  };
  scheduler = await startScheduler({ ...options, schedulerId: 'sched-a' });
  other = await startScheduler({ ...options, schedulerId: 'sched-b' });
});
afterAll(async () => {
  await scheduler?.stop();
  await other?.stop();
  await h.close();
});

const base = {
  namespace: 'test',
  name: quick.name,
  cron: '0 * * * *',
  timezone: 'UTC',
  context: { plan: 'pro' },
  overlap: 'allow' as const,
};

/**
 * Makes the schedule fire on the half hours, due from the last one before now: a tick other
 * than the top of the hour an earlier tick fired, so it is a new tick, not a replay.
 */
async function dueOnTheHalfHour(id: string): Promise<void> {
  await h.pool.query(
    `UPDATE schedules SET cron = '30 * * * *',
            next_run_at = date_trunc('hour', clock_timestamp() - interval '30 minutes') + interval '30 minutes'
      WHERE id = $1`,
    [id],
  );
}

/** Moves a schedule's next tick `hoursAgo` whole hours back, as if no scheduler had run since. */
async function missedHours(id: string, hoursAgo: number): Promise<Date> {
  const { rows } = await h.pool.query(
    `UPDATE schedules SET next_run_at = date_trunc('hour', clock_timestamp()) - $2 * interval '1 hour'
      WHERE id = $1 RETURNING next_run_at`,
    [id, hoursAgo],
  );
  return rows[0].next_run_at;
}

async function tasksOf(scheduleId: string) {
  const { rows } = await h.pool.query(
    'SELECT id, status, schedule_tick_at FROM tasks WHERE schedule_id = $1 ORDER BY schedule_tick_at',
    [scheduleId],
  );
  return rows as { id: string; status: string; schedule_tick_at: Date }[];
}

async function scheduleCount(): Promise<number> {
  return (await h.pool.query('SELECT count(*)::int AS n FROM schedules')).rows[0].n;
}

describe('creating a schedule', () => {
  it('refuses bad input with a clear message, creating nothing', async () => {
    const before = await scheduleCount();
    const refusal = (input: object) => createSchedule(h.pool, { ...base, ...input }, 'test').catch((e) => e);
    const badCron = await refusal({ cron: '61 * * * *' });
    expect(badCron).toBeInstanceOf(ValidationError);
    expect(badCron.issues[0]).toMatchObject({ path: '/cron', rule: 'cron' });
    expect(badCron.issues[0].message).toMatch(/"61 \* \* \* \*" is not a cron expression: .*minute/);
    const badZone = await refusal({ timezone: 'Mars/Olympus' });
    expect(badZone.issues).toEqual([expect.objectContaining({ path: '/timezone', rule: 'time_zone' })]);
    const unknown = await refusal({ name: 'no_such_template' });
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(unknown.message).toContain('unknown template test/no_such_template');
    const badContext = await refusal({ context: { plan: 'gold' } });
    expect(badContext).toBeInstanceOf(ValidationError);
    expect(badContext.issues[0].path).toBe('/context/plan');
    // Several problems come back together, so one round of fixes does.
    const several = await refusal({ timezone: 'Mars/Olympus', context: { plan: 'gold' } });
    expect(several.issues.map((issue: { path: string }) => issue.path)).toEqual([
      '/timezone',
      '/context/plan',
    ]);
    const badOverlap = await refusal({ overlap: 'sometimes' });
    expect(badOverlap.issues[0].path).toBe('/overlap');
    expect(await scheduleCount()).toBe(before);
  });

  it('computes the first tick in the schedule time zone', async () => {
    const schedule = await createSchedule(
      h.pool,
      { ...base, cron: '30 9 * * *', timezone: 'Asia/Tokyo' },
      'test',
    );
    // 09:30 in Tokyo is 00:30 UTC.
    expect(schedule.nextRunAt?.toISOString()).toMatch(/T00:30:00\.000Z$/);
    expect(schedule.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
    await deleteSchedule(h.pool, schedule.id);
  });
});

describe('schedule ticks', () => {
  it('two schedulers racing over due schedules create exactly one task per tick, recorded, with the schedule on the task', async () => {
    const schedules = await Promise.all(
      Array.from({ length: 5 }, () => createSchedule(h.pool, { ...base, catchUp: 'all' }, 'test')),
    );
    for (const s of schedules) await missedHours(s.id, 3);
    await Promise.all([scheduler.tickSchedules(), other.tickSchedules(), scheduler.tickSchedules()]);
    for (const s of schedules) {
      const tasks = await tasksOf(s.id);
      // Three missed hours and the current one.
      expect(tasks).toHaveLength(4);
      expect(new Set(tasks.map((t) => t.schedule_tick_at.toISOString())).size).toBe(4);
      const ticks = await listScheduleTicks(h.pool, s.id);
      expect(ticks.map((t) => t.outcome)).toEqual(['created', 'created', 'created', 'created']);
      const detail = await getTaskDetail(h.pool, tasks[0]!.id);
      expect(detail).toMatchObject({ scheduleId: s.id, initiator: `schedule:${s.id}` });
      expect(detail?.scheduleTickAt?.toISOString()).toBe(tasks[0]!.schedule_tick_at.toISOString());
      await deleteSchedule(h.pool, s.id);
    }
  });

  it('a replayed tick (the schedule rewound after its commit) finds its task instead of making a second', async () => {
    const s = await createSchedule(h.pool, { ...base, catchUp: 'all' }, 'test');
    await missedHours(s.id, 1);
    await scheduler.tickSchedules();
    const first = await tasksOf(s.id);
    expect(first).toHaveLength(2);
    await missedHours(s.id, 1);
    await other.tickSchedules();
    const ids = (tasks: { id: string }[]) => tasks.map((t) => t.id);
    expect(ids(await tasksOf(s.id))).toEqual(ids(first));
    await deleteSchedule(h.pool, s.id);
  });

  it('catch_up none fires no missed tick, latest fires one, all fires each', async () => {
    const made: Record<string, number> = {};
    for (const catchUp of ['none', 'latest', 'all'] as const) {
      const s = await createSchedule(h.pool, { ...base, catchUp }, 'test');
      await missedHours(s.id, 5);
      await scheduler.tickSchedules();
      made[catchUp] = (await tasksOf(s.id)).length;
      const after = await h.pool.query('SELECT next_run_at FROM schedules WHERE id = $1', [s.id]);
      expect(after.rows[0].next_run_at.getTime()).toBeGreaterThan(Date.now());
      await deleteSchedule(h.pool, s.id);
    }
    // With no grace, every tick up to now was missed: the five hours back and the current one.
    expect(made).toEqual({ none: 0, latest: 1, all: 6 });
  });

  it('overlap skip records a skipped tick while the previous task runs; cancel_previous cancels it first', async () => {
    const skip = await createSchedule(
      h.pool,
      { ...base, name: held.name, context: {}, overlap: 'skip', catchUp: 'latest' },
      'test',
    );
    await missedHours(skip.id, 1);
    await scheduler.tickSchedules();
    const [running] = await tasksOf(skip.id);
    await dueOnTheHalfHour(skip.id);
    await scheduler.tickSchedules();
    expect(await tasksOf(skip.id)).toHaveLength(1);
    const ticks = await listScheduleTicks(h.pool, skip.id);
    expect(ticks.map((t) => t.outcome).sort()).toEqual(['created', 'skipped_overlap']);
    const skipped = ticks.find((t) => t.outcome === 'skipped_overlap');
    expect(skipped?.taskId).toBeNull();
    expect(skipped?.detail).toContain(running!.id);
    release.add(running!.id);
    await h.waitForTask(running!.id);

    const replace = await createSchedule(
      h.pool,
      { ...base, name: held.name, context: {}, overlap: 'cancel_previous', catchUp: 'latest' },
      'test',
    );
    await missedHours(replace.id, 2);
    await scheduler.tickSchedules();
    const [previous] = await tasksOf(replace.id);
    await vi.waitFor(async () => expect((await h.steps(previous!.id))[0]?.status).toBe('in_progress'), {
      timeout: 10_000,
    });
    await dueOnTheHalfHour(replace.id);
    await scheduler.tickSchedules();
    const tasks = await tasksOf(replace.id);
    expect(tasks).toHaveLength(2);
    expect(await h.waitForTask(previous!.id)).toBe('cancelled');
    const transitions = await h.pool.query(
      `SELECT reason FROM task_transitions WHERE task_id = $1 AND to_status = 'cancelled'`,
      [previous!.id],
    );
    expect(transitions.rows[0].reason).toContain('overlap: cancel_previous');
    for (const t of tasks) release.add(t.id);
    await deleteSchedule(h.pool, skip.id);
    await deleteSchedule(h.pool, replace.id);
  });

  it('a paused schedule creates nothing; resumed, it starts from the next tick; deleted, its tasks stay', async () => {
    const s = await createSchedule(h.pool, { ...base, catchUp: 'all' }, 'test');
    await missedHours(s.id, 2);
    const paused = await pauseSchedule(h.pool, s.id);
    expect(paused.paused).toBe(true);
    await scheduler.tickSchedules();
    expect(await tasksOf(s.id)).toHaveLength(0);
    const resumed = await resumeSchedule(h.pool, s.id);
    expect(resumed.paused).toBe(false);
    // Ticks that fell while paused never fire: the next run is in the future.
    expect(resumed.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
    await scheduler.tickSchedules();
    expect(await tasksOf(s.id)).toHaveLength(0);
    await missedHours(s.id, 0);
    await scheduler.tickSchedules();
    const tasks = await tasksOf(s.id);
    expect(tasks).toHaveLength(1);
    await deleteSchedule(h.pool, s.id);
    await expect(deleteSchedule(h.pool, s.id)).rejects.toThrow(NotFoundError);
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM tasks WHERE schedule_id = $1', [
      s.id,
    ]);
    expect(rows[0].n).toBe(1);
    expect((await getTaskDetail(h.pool, tasks[0]!.id))?.scheduleId).toBe(s.id);
  });

  it('a tick whose template was removed is recorded as failed and the schedule moves on', async () => {
    const s = await createSchedule(h.pool, { ...base, catchUp: 'latest' }, 'test');
    await h.pool.query(`UPDATE schedules SET name = 'vanished' WHERE id = $1`, [s.id]);
    await missedHours(s.id, 1);
    await scheduler.tickSchedules();
    const [tick] = await listScheduleTicks(h.pool, s.id);
    expect(tick).toMatchObject({ outcome: 'failed', taskId: null });
    expect(tick?.detail).toContain('unknown template test/vanished');
    const after = await h.pool.query('SELECT next_run_at FROM schedules WHERE id = $1', [s.id]);
    expect(after.rows[0].next_run_at.getTime()).toBeGreaterThan(Date.now());
    await deleteSchedule(h.pool, s.id);
  });
});
