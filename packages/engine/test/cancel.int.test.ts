import { ConflictError } from '@switchyard/core';
import { defineStepHandler, RetryableError } from '@switchyard/handler-kit';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTask } from '../src/cancel-task.ts';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const cancel = (taskId: string) =>
  cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, taskId, {
    actor: 'operator',
    reason: 'test',
  });

describe('cancellation', () => {
  it('cancels a running task: the handler is aborted, its late result is stale, nothing else runs', async () => {
    let aborted = false;
    let started = false;
    let childRan = false;
    const template = testTemplate({
      steps: [
        { name: 'long', handler: 'cx_long' },
        { name: 'after', handler: 'cx_after', depends_on: ['long'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('cx_long', async (ctx) => {
          started = true;
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          aborted = ctx.signal.aborted;
          return { late: true };
        }),
        defineStepHandler('cx_after', () => {
          childRan = true;
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await waitFor('the handler to start', () => started);

    const result = await cancel(task.id);
    await waitFor('the handler to be aborted', () => aborted);
    await waitFor('the attempt to be recorded', async () => (await h.attempts(task.id)).length === 1);

    expect(result.from).toBe('in_progress');
    expect(result.steps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ from: 'in_progress' }),
        expect.objectContaining({ from: 'pending' }),
      ]),
    );
    expect((await h.steps(task.id)).map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
    expect((await h.attempts(task.id))[0]).toMatchObject({ attempt: 1, stale: true });
    await sleep(200);
    expect(childRan).toBe(false);
    const { rows } = await h.pool.query('SELECT status FROM tasks WHERE id = $1', [task.id]);
    expect(rows[0].status).toBe('cancelled');
  });

  it('cancels a task waiting for a retry: the retry never runs', async () => {
    let calls = 0;
    const template = testTemplate({
      steps: [{ name: 'wait', handler: 'cx_retry', retry: { max_attempts: 3, backoff_base_ms: 10 } }],
    });
    await h.start(
      [
        defineStepHandler('cx_retry', () => {
          calls += 1;
          throw new RetryableError('come back later', { retryAfter: 1 });
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await waitFor(
      'the step to wait for its retry',
      async () => (await h.steps(task.id))[0]!.status === 'waiting_retry',
    );

    const result = await cancel(task.id);
    await sleep(1_500);

    expect(result.steps).toEqual([expect.objectContaining({ from: 'waiting_retry' })]);
    expect(calls).toBe(1);
    expect((await h.steps(task.id))[0]!.status).toBe('cancelled');
  });

  it('refuses to cancel a finished task, clearly', async () => {
    const template = testTemplate({ steps: [{ name: 'quick', handler: 'cx_quick' }] });
    await h.start([defineStepHandler('cx_quick', () => ({ done: true }))], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('complete');

    const error = await cancel(task.id).catch((e) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toContain('is complete');
  });
});
