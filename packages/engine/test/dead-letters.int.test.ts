import { findTasksNeedingAttention } from '@switchyard/db';
import { defineStepHandler, PermanentError, RetryableError } from '@switchyard/handler-kit';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

describe('dead-letter view', () => {
  it('lists blocked tasks and tasks whose steps keep failing, with the attempt history that explains why', async () => {
    const blocked = testTemplate({ steps: [{ name: 'charge', handler: 'dl_permanent' }] });
    const flaky = testTemplate({
      steps: [
        {
          name: 'notify',
          handler: 'dl_flaky',
          retry: { max_attempts: 10, backoff_base_ms: 10, backoff_cap_ms: 120_000 },
        },
      ],
    });
    const healthy = testTemplate({ steps: [{ name: 'fine', handler: 'dl_fine' }] });
    await h.start(
      [
        defineStepHandler('dl_permanent', () => {
          throw new PermanentError('card declined', { errorCode: 'card_declined', httpStatus: 402 });
        }),
        defineStepHandler('dl_flaky', (ctx) => {
          // Fails three times, then waits for a long retry: "keeps failing" while still running.
          throw new RetryableError('upstream 503', {
            httpStatus: 503,
            retryAfter: ctx.step.attempt >= 3 ? 60 : 0,
          });
        }),
        defineStepHandler('dl_fine', () => ({ ok: true })),
      ],
      [blocked, flaky, healthy],
    );
    const a = await h.create({ namespace: 'test', name: blocked.name, context: {} });
    const b = await h.create({ namespace: 'test', name: flaky.name, context: {} });
    const c = await h.create({ namespace: 'test', name: healthy.name, context: {} });
    expect(await h.waitForTask(a.task.id)).toBe('error');
    expect(await h.waitForTask(c.task.id)).toBe('complete');
    // Its third failure recorded (not only claimed): the step then waits for its long retry.
    await waitFor(
      'the flaky step to have failed three times',
      async () => (await h.attempts(b.task.id)).filter((a) => a.outcome === 'retryable_error').length >= 3,
    );

    const attention = await findTasksNeedingAttention(h.pool, { minFailures: 3 });
    const byTask = new Map(attention.map((t) => [t.taskId, t]));
    expect(byTask.has(c.task.id)).toBe(false);
    expect(byTask.get(a.task.id)).toMatchObject({
      reason: 'blocked',
      status: 'error',
      steps: [
        {
          name: 'charge',
          status: 'error',
          history: [{ attempt: 1, outcome: 'permanent_error', errorCode: 'card_declined', httpStatus: 402 }],
        },
      ],
    });
    const retrying = byTask.get(b.task.id)!;
    expect(retrying).toMatchObject({ reason: 'retrying', status: 'in_progress' });
    expect(retrying.steps[0]!.history.map((attempt) => attempt.outcome)).toEqual([
      'retryable_error',
      'retryable_error',
      'retryable_error',
    ]);
  });
});
