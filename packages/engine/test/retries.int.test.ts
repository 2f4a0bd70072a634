import { defineStepHandler, PermanentError, RetryableError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const fast = { max_attempts: 3, backoff_base_ms: 20, backoff_cap_ms: 100 };

describe('errors and retries', () => {
  it('retries a retryable error and then succeeds', async () => {
    let calls = 0;
    const template = testTemplate({ steps: [{ name: 'flaky', handler: 'rt_flaky', retry: fast }] });
    await h.start(
      [
        defineStepHandler('rt_flaky', () => {
          calls += 1;
          if (calls < 3) throw new RetryableError(`try ${calls} failed`);
          return { calls };
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    const attempts = await h.attempts(task.id);
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'retryable_error'],
      [2, 'retryable_error'],
      [3, 'success'],
    ]);
    expect((await h.steps(task.id))[0]).toMatchObject({
      status: 'complete',
      attempts: 3,
      results: { calls: 3 },
    });
  });

  it('honours a retry-after of N seconds: not earlier, and within a second of it', async () => {
    let calls = 0;
    const template = testTemplate({
      steps: [
        {
          name: 'limited',
          handler: 'rt_limited',
          retry: { max_attempts: 2, backoff_base_ms: 10, backoff_cap_ms: 60_000 },
        },
      ],
    });
    await h.start(
      [
        defineStepHandler('rt_limited', () => {
          calls += 1;
          if (calls === 1)
            throw new RetryableError('429 too many requests', { retryAfter: 2, httpStatus: 429 });
          return {};
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    const [first, second] = await h.attempts(task.id);
    expect(first).toMatchObject({ outcome: 'retryable_error', retry_after_ms: 2000 });
    const waited = second!.started_at.getTime() - first!.finished_at.getTime();
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(waited).toBeLessThan(3000);
  });

  it('attempts a permanent error exactly once, whatever max_attempts says, and fails the task', async () => {
    let calls = 0;
    const template = testTemplate({
      steps: [{ name: 'charge', handler: 'rt_permanent', retry: { max_attempts: 5, backoff_base_ms: 10 } }],
    });
    await h.start(
      [
        defineStepHandler('rt_permanent', () => {
          calls += 1;
          throw new PermanentError('card declined', { errorCode: 'card_declined', httpStatus: 402 });
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('error');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toBe(1);
    const attempts = await h.attempts(task.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({
      outcome: 'permanent_error',
      error_class: 'PermanentError',
      error_code: 'card_declined',
    });
    expect((await h.steps(task.id))[0]).toMatchObject({ status: 'error', attempts: 1 });
  });

  it.each([
    ['a NUL character, which jsonb has not', { name: 'nul \u0000 byte' }],
    ['a BigInt, which JSON has not', { amount: 10n }],
  ])('fails a step for good when its results cannot be stored (%s), and says why', async (_, results) => {
    let calls = 0;
    const template = testTemplate({
      steps: [{ name: 'lookup', handler: 'rt_unstorable', retry: { max_attempts: 5, backoff_base_ms: 10 } }],
    });
    const worker = await h.start(
      [
        defineStepHandler('rt_unstorable', () => {
          calls += 1;
          return results;
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('error');
    await worker.stop();
    expect(calls).toBe(1);
    const attempts = await h.attempts(task.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ outcome: 'permanent_error', error_code: 'results_not_storable' });
  });

  it('fails the step and the task when attempts are exhausted; anything thrown counts as retryable', async () => {
    let calls = 0;
    const template = testTemplate({ steps: [{ name: 'always', handler: 'rt_always', retry: fast }] });
    await h.start(
      [
        defineStepHandler('rt_always', () => {
          calls += 1;
          throw new TypeError('boom');
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('error');
    expect(calls).toBe(3);
    const attempts = await h.attempts(task.id);
    expect(attempts.map((a) => [a.outcome, a.error_class])).toEqual([
      ['retryable_error', 'TypeError'],
      ['retryable_error', 'TypeError'],
      ['retryable_error', 'TypeError'],
    ]);
    expect((await h.steps(task.id))[0]).toMatchObject({ status: 'error', attempts: 3 });
  });

  it('aborts a handler over its timeout and retries it', async () => {
    let calls = 0;
    let firstSignalAborted = false;
    const template = testTemplate({
      steps: [{ name: 'slow', handler: 'rt_slow', timeout_ms: 200, retry: fast }],
    });
    await h.start(
      [
        defineStepHandler('rt_slow', async (ctx) => {
          calls += 1;
          if (calls === 1) {
            await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
            firstSignalAborted = ctx.signal.aborted;
            await new Promise((resolve) => setTimeout(resolve, 50));
            return { late: true };
          }
          return { calls };
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(firstSignalAborted).toBe(true);
    const attempts = await h.attempts(task.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.error_class])).toEqual([
      [1, 'timeout', 'StepTimeoutError'],
      [2, 'success', null],
    ]);
    expect((await h.steps(task.id))[0]!.results).toEqual({ calls: 2 });
  });
});
