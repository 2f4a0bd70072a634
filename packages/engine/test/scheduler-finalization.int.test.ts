import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningScheduler, startScheduler } from '../src/scheduler.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const silent = createLogger({ name: 'test', level: 'silent' });
const BATCH_SIZE = 20;

/** Sweeps until `taskId` is no longer running; returns how many sweeps that took. */
async function sweepsUntilFinalized(scheduler: RunningScheduler, taskId: string, maxSweeps: number) {
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    await scheduler.sweep();
    const { rows } = await h.pool.query('SELECT status FROM tasks WHERE id = $1', [taskId]);
    if (rows[0].status === 'complete') return sweep;
  }
  throw new Error(`task ${taskId} still running after ${maxSweeps} sweeps`);
}

describe('the scheduler finalizing settled tasks', () => {
  it('reaches a stranded task behind a backlog larger than a sweep examines, and leaves one inside the grace', async () => {
    // No worker serves this handler: every task stays running with its step enqueued.
    const template = testTemplate({ steps: [{ name: 'only', handler: 'settle_unserved' }] });
    await h.start([defineStepHandler('settle_other', () => null)], [template]);
    const ids: string[] = [];
    for (let i = 0; i < 301; i += 10) {
      const batch = Array.from({ length: Math.min(10, 301 - i) }, (_, j) =>
        h.create({ namespace: 'test', name: template.name, context: { i: i + j } }),
      );
      ids.push(...(await Promise.all(batch)).map((c) => c.task.id));
    }
    // The scan goes in id order: the stranded task is the last running one, so only a scan that
    // moves on from sweep to sweep reaches it; the one inside the grace comes just before it.
    const [stranded, recent] = ids.sort().reverse();
    await h.pool.query(
      `UPDATE workflow_steps SET status = 'complete', attempts = 1, updated_at = now() - interval '1 hour'
        WHERE task_id = $1`,
      [stranded],
    );
    await h.pool.query(`UPDATE workflow_steps SET status = 'complete', attempts = 1 WHERE task_id = $1`, [
      recent,
    ]);

    const scheduler = await startScheduler({
      pool: h.pool,
      databaseUrl: h.databaseUrl,
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: silent,
      intervalMs: 60_000,
      // Also the finalization grace: the task settled just now stays inside it.
      dispatchGraceMs: 600_000,
      batchSize: BATCH_SIZE,
    });
    try {
      // 301 running tasks, 20 a sweep: the last one is on the 16th page.
      expect(await sweepsUntilFinalized(scheduler, stranded!, 20)).toBe(Math.ceil(301 / BATCH_SIZE));
      // The next pass (the short 16th page ended the first) examines every task again.
      for (let sweep = 0; sweep < Math.ceil(300 / BATCH_SIZE); sweep++) await scheduler.sweep();
    } finally {
      await scheduler.stop();
    }

    expect(scheduler.repairs().task_finalized).toBe(1);
    const { rows } = await h.pool.query('SELECT status FROM tasks WHERE id = $1', [recent]);
    // Still pending, as created: no attempt of it was ever claimed.
    expect(rows[0].status).toBe('pending');
  });
});
