import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../src/scheduler.ts';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

describe('losing Postgres connections', () => {
  it('recovers by itself when every connection is terminated mid-run', async () => {
    const { createLogger } = await import('@switchyard/logger');
    const done = new Map<string, number>();
    const template = testTemplate({
      steps: [
        { name: 'a', handler: 'pg_step' },
        { name: 'b', handler: 'pg_step', depends_on: ['a'] },
        { name: 'c', handler: 'pg_step', depends_on: ['b'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('pg_step', async (ctx) => {
          await sleep(10);
          const key = `${ctx.task.id}/${ctx.step.name}`;
          done.set(key, (done.get(key) ?? 0) + 1);
          return { ok: true };
        }),
      ],
      [template],
      { concurrency: 10 },
    );
    const name = (await h.pool.query('SELECT current_database() AS db')).rows[0].db as string;
    const base = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
    const scheduler = await startScheduler({
      pool: h.pool,
      databaseUrl: base.replace(/\/[^/?]*(\?|$)/, `/${name}$1`),
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 200,
      dispatchGraceMs: 500,
      schedulerId: 'pg-loss',
    });
    const ids: string[] = [];
    for (let i = 0; i < 60; i++)
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { i } })).task.id);

    for (let round = 0; round < 3; round++) {
      await sleep(150);
      const killer = await h.pool.connect();
      await killer.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      killer.release();
    }
    for (const id of ids) expect(await h.waitForTask(id, ['complete'], 60_000)).toBe('complete');
    await scheduler.stop();

    const { rows } = await h.pool.query(
      `SELECT count(*)::int AS n FROM workflow_steps WHERE task_id = ANY($1) AND status = 'complete'`,
      [ids],
    );
    expect(rows[0].n).toBe(180);
  });
});
