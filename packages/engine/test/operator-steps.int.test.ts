import { ConflictError } from '@switchyard/core';
import { defineStepHandler, PermanentError, RetryableError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTask } from '../src/cancel-task.ts';
import { resolveStep, retryStep } from '../src/operator-steps.ts';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const operator = { actor: 'operator', reason: 'test' };
const deps = () => ({ pool: h.pool, dispatcher: h.dispatcher });

async function taskTransitions(taskId: string): Promise<string[]> {
  const { rows } = await h.pool.query(
    'SELECT from_status, to_status FROM task_transitions WHERE task_id = $1 ORDER BY id',
    [taskId],
  );
  return rows.map((row) => `${row.from_status ?? '∅'}→${row.to_status}`);
}

async function stepRow(taskId: string, name: string) {
  const { rows } = await h.pool.query(
    'SELECT status, attempts, uncounted_attempts, results FROM workflow_steps WHERE task_id = $1 AND name = $2',
    [taskId, name],
  );
  return rows[0];
}

describe('retrying a failed step', () => {
  it('gives the step fresh attempts, keeps the fence growing, and the task resumes to completion', async () => {
    let calls = 0;
    let childParents: unknown;
    const template = testTemplate({
      steps: [
        {
          name: 'flaky',
          handler: 'op_flaky',
          retry: { max_attempts: 2, backoff_base_ms: 10, jitter: false },
        },
        { name: 'after', handler: 'op_after', depends_on: ['flaky'] },
      ],
    });
    await h.start(
      [
        // Attempts 1-3 fail: two exhaust the step; after the retry, one more failure is allowed.
        defineStepHandler('op_flaky', () => {
          calls += 1;
          if (calls <= 3) throw new RetryableError(`failure ${calls}`);
          return { call: calls };
        }),
        defineStepHandler('op_after', (ctx) => {
          childParents = ctx.parents;
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    expect(await stepRow(task.id, 'flaky')).toMatchObject({ status: 'error', attempts: 2 });

    const result = await retryStep(deps(), task.id, 'flaky', operator);
    expect(result).toMatchObject({ task: { from: 'error', to: 'in_progress' }, ready: [{ attempt: 3 }] });
    expect(await h.waitForTask(task.id)).toBe('complete');

    expect(await stepRow(task.id, 'flaky')).toMatchObject({
      status: 'complete',
      attempts: 4,
      uncounted_attempts: 2,
    });
    expect(childParents).toEqual({ flaky: { call: 4 } });
    expect(await taskTransitions(task.id)).toEqual([
      '∅→pending',
      'pending→in_progress',
      'in_progress→error',
      'error→in_progress',
      'in_progress→complete',
    ]);
  });

  it('refuses a step that is not in error, and a cancelled task, changing nothing', async () => {
    const template = testTemplate({ steps: [{ name: 'ok', handler: 'op_ok' }] });
    await h.start([defineStepHandler('op_ok', () => ({ ok: true }))], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('complete');

    const refused = await retryStep(deps(), task.id, 'ok', operator).catch((e) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused.message).toContain('is complete');
    expect(await stepRow(task.id, 'ok')).toMatchObject({ status: 'complete', attempts: 1 });

    const failing = testTemplate({ steps: [{ name: 'bad', handler: 'op_bad' }] });
    await h.start(
      [defineStepHandler('op_bad', () => Promise.reject(new PermanentError('no', { errorCode: 'no' })))],
      [failing],
    );
    const second = await h.create({ namespace: 'test', name: failing.name, context: {} });
    expect(await h.waitForTask(second.task.id)).toBe('error');
    await cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, second.task.id, operator);
    const cancelled = await retryStep(deps(), second.task.id, 'bad', operator).catch((e) => e);
    expect(cancelled).toBeInstanceOf(ConflictError);
    expect(cancelled.message).toContain('is cancelled');
  });
});

describe('resolving a step manually', () => {
  it('lets dependents proceed with the given results and completes the failed task', async () => {
    let childParents: unknown;
    const template = testTemplate({
      steps: [
        { name: 'charge', handler: 'op_charge' },
        { name: 'notify', handler: 'op_notify', depends_on: ['charge'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('op_charge', () =>
          Promise.reject(new PermanentError('card declined', { errorCode: 'declined' })),
        ),
        defineStepHandler('op_notify', (ctx) => {
          childParents = ctx.parents;
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');

    const result = await resolveStep(deps(), task.id, 'charge', {
      ...operator,
      results: { paid_offline: true },
    });
    expect(result.step).toMatchObject({ from: 'error', to: 'resolved_manually' });
    expect(result.ready).toHaveLength(1);
    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(childParents).toEqual({ charge: { paid_offline: true } });
    expect(await taskTransitions(task.id)).toEqual([
      '∅→pending',
      'pending→in_progress',
      'in_progress→error',
      'error→in_progress',
      'in_progress→complete',
    ]);
  });

  it('completes a failed task at once when the resolved step was the last one', async () => {
    const template = testTemplate({ steps: [{ name: 'only', handler: 'op_only' }] });
    await h.start(
      [defineStepHandler('op_only', () => Promise.reject(new PermanentError('no', { errorCode: 'no' })))],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    const result = await resolveStep(deps(), task.id, 'only', operator);
    expect(result.task).toEqual({ from: 'error', to: 'complete' });
    expect(await h.waitForTask(task.id, ['complete'], 1000)).toBe('complete');
  });

  it('refuses a running step and a finished one, changing nothing', async () => {
    let started = false;
    let release: () => void = () => {};
    const template = testTemplate({ steps: [{ name: 'slow', handler: 'op_slow' }] });
    await h.start(
      [
        defineStepHandler('op_slow', async () => {
          started = true;
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          return { done: true };
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    while (!started) await sleep(20);

    const running = await resolveStep(deps(), task.id, 'slow', operator).catch((e) => e);
    expect(running).toBeInstanceOf(ConflictError);
    expect(running.message).toContain('is running');
    expect(await stepRow(task.id, 'slow')).toMatchObject({ status: 'in_progress' });

    release();
    expect(await h.waitForTask(task.id)).toBe('complete');
    const finished = await resolveStep(deps(), task.id, 'slow', operator).catch((e) => e);
    expect(finished).toBeInstanceOf(ConflictError);
    expect(await stepRow(task.id, 'slow')).toMatchObject({ status: 'complete', results: { done: true } });
  });

  it('resolves a step still waiting for its parent without running it later', async () => {
    let childCalls = 0;
    let releaseParent: (() => void) | undefined;
    const template = testTemplate({
      steps: [
        { name: 'first', handler: 'op_first' },
        { name: 'second', handler: 'op_second', depends_on: ['first'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('op_first', () => new Promise<void>((resolve) => (releaseParent = resolve))),
        defineStepHandler('op_second', () => {
          childCalls += 1;
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await resolveStep(deps(), task.id, 'second', { ...operator, results: { skipped: true } });
    while (!releaseParent) await sleep(20);
    releaseParent();
    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(childCalls).toBe(0);
    expect(await stepRow(task.id, 'second')).toMatchObject({ status: 'resolved_manually', attempts: 0 });
  });
});
