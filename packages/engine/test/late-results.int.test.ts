/**
 * A result that arrives after its attempt's lease was taken back changes no state (the fence
 * refuses it), and is kept: recorded on the attempt's row, stale, with what it said.
 */

import { defineStepHandler, RetryableError } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../src/scheduler.ts';
import { withStatementHook } from './eager-harness.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

describe('a late result after the lease was taken back', () => {
  it.each([
    ['success', undefined],
    ['retryable_error', 'billing said 503'],
  ])('is kept on its attempt as %s, stale, and changes nothing', async (outcome, failWith) => {
    let letFirstFinish!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => {
      letFirstFinish = resolve;
    });
    const handlerName = `late_${outcome}`;
    const handler = defineStepHandler(handlerName, async (ctx) => {
      if (ctx.step.attempt === 1) {
        await firstMayFinish;
        if (failWith) throw new RetryableError(failWith);
      }
      return { attempt: ctx.step.attempt };
    });
    const template = testTemplate({
      steps: [{ name: 'only', handler: handlerName, timeout_ms: 60_000 }],
    });
    // The first worker's lease renewals never reach Postgres: a worker cut off from the database.
    const cutOff = withStatementHook(h.pool, (name, _values, run) =>
      name === 'switchyard_renew_lease' ? new Promise(() => {}) : run(),
    );
    const first = await h.start([handler], [template], { pool: cutOff, leaseMs: 1_000, workerId: 'cut-off' });
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await waitFor('attempt 1 running', async () => (await h.steps(task.id))[0]?.status === 'in_progress');
    await h.pool.query(
      `UPDATE workflow_steps SET lease_expires_at = now() - interval '1 second' WHERE task_id = $1`,
      [task.id],
    );
    const scheduler = await startScheduler({
      pool: h.pool,
      databaseUrl: h.databaseUrl,
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 100,
      dispatchGraceMs: 500,
    });
    try {
      await h.start([handler], [], { workerId: 'second' });
      expect(await h.waitForTask(task.id)).toBe('complete');
    } finally {
      await scheduler.stop();
    }
    letFirstFinish();
    await first.stop();

    const attempts = await h.attempts(task.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.stale, a.error_class])).toEqual([
      // attempt 1's row was written as lease_expired; its late result is recorded on it
      [1, outcome, true, 'LeaseExpired'],
      [2, 'success', false, null],
    ]);
    const { rows } = await h.pool.query(
      `SELECT a.error_message FROM step_attempts a WHERE a.task_id = $1 AND a.attempt = 1`,
      [task.id],
    );
    expect(rows[0].error_message).toBe(failWith ?? 'worker stopped renewing its lease');
    // The late result changed nothing: the step kept attempt 2's results.
    expect((await h.steps(task.id))[0]).toMatchObject({ status: 'complete', results: { attempt: 2 } });
  });
});
