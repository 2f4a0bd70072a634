import { registerTemplate } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { DELIVERY_LOCK_MS, QueueEvents, STALLED_CHECK_MS, StepConsumer } from '@switchyard/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

describe('fenced delivery', () => {
  it('runs the handler once when the same attempt is delivered twice at once, and once more late', async () => {
    const calls: number[] = [];
    const template = testTemplate({ steps: [{ name: 'only', handler: 'dup_once' }] });
    const handler = defineStepHandler('dup_once', async (ctx) => {
      calls.push(ctx.step.attempt);
      await sleep(200);
      return { ok: true };
    });
    // Create before starting the worker so both copies are waiting when it starts.
    await h.start([defineStepHandler('dup_other', () => null)], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    const [{ id: stepId }] = (
      await h.pool.query('SELECT id FROM workflow_steps WHERE task_id = $1', [task.id])
    ).rows;
    const queue = h.dispatcher.queue('dup_once');
    await queue.add('dup_once', { stepId, taskId: task.id, attempt: 1 }, { jobId: `${stepId}.copy` });
    await h.start([handler], [], { concurrency: 5 });

    expect(await h.waitForTask(task.id)).toBe('complete');
    await queue.add('dup_once', { stepId, taskId: task.id, attempt: 1 }, { jobId: `${stepId}.late` });
    await queue.add('dup_once', { stepId, taskId: task.id, attempt: 2 }, { jobId: `${stepId}.next` });
    await waitForDrain(h, 'dup_once');

    expect(calls).toEqual([1]);
    const attempts = await h.attempts(task.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: 'success', stale: false });
  });

  it('shows a step whose handler no live worker serves', async () => {
    const { findUnservedSteps } = await import('@switchyard/db');
    const template = testTemplate({ steps: [{ name: 'orphan', handler: 'nobody_serves_this' }] });
    await h.start([defineStepHandler('some_other_handler', () => null)], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    const unserved = await findUnservedSteps(h.pool, 30_000);
    expect(unserved.filter((s) => s.taskId === task.id)).toMatchObject([
      { name: 'orphan', handler: 'nobody_serves_this' },
    ]);
  });

  it('gives a delivery taken by a worker that died before claiming it to another worker', async () => {
    const template = testTemplate({ steps: [{ name: 'only', handler: 'orphaned_delivery' }] });
    let taken!: () => void;
    const deliveryTaken = new Promise<void>((resolve) => {
      taken = resolve;
    });
    // A consumer that takes the delivery and never claims it, then stops without a word: a
    // worker killed while its claim waited for its batch. The job stays active in BullMQ, and
    // the scheduler counts an active job as present, so only the stalled check brings it back.
    const dying = new StepConsumer({
      connection: h.redis,
      prefix: h.prefix,
      handlers: ['orphaned_delivery'],
      concurrency: 1,
      process: () => {
        taken();
        return new Promise(() => {});
      },
    });
    await registerTemplate(h.pool, template);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await deliveryTaken;
    await dying.close(true);
    const diedAt = Date.now();

    await h.start([defineStepHandler('orphaned_delivery', () => ({ ok: true }))], [template]);
    // BullMQ's defaults (30 s lock, 30 s check) would leave it stuck past this wait.
    expect(await h.waitForTask(task.id, ['complete'], DELIVERY_LOCK_MS + STALLED_CHECK_MS + 5_000)).toBe(
      'complete',
    );
    console.info(`[measure] orphaned delivery ran ${Date.now() - diedAt} ms after its worker died`);
  }, 40_000);

  it('drops a malformed message without failing the deliveries claimed with it', async () => {
    const template = testTemplate({
      identity_strategy: 'unique',
      steps: [{ name: 'only', handler: 'beside_malformed' }],
    });
    await registerTemplate(h.pool, template);
    const queue = h.dispatcher.queue('beside_malformed');
    const failed: string[] = [];
    const events = new QueueEvents(queue.name, { connection: h.redis.duplicate(), prefix: h.prefix });
    events.on('failed', ({ jobId }) => failed.push(jobId));
    await events.waitUntilReady();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: {} })).task.id);
      // Not a step pointer: a message from another producer, or hand-made.
      if (i % 7 === 3)
        await queue.add('beside_malformed', { stepId: `not-a-step-${i}`, taskId: 'x', attempt: 1 });
    }
    await h.start([defineStepHandler('beside_malformed', () => ({ ok: true }))], [], { concurrency: 10 });

    for (const id of ids) expect(await h.waitForTask(id)).toBe('complete');
    await waitForDrain(h, 'beside_malformed');
    await events.close();
    expect(failed).toEqual([]);
  });
});

async function waitForDrain(h: EngineHarness, handler: string): Promise<void> {
  const queue = h.dispatcher.queue(handler);
  for (let i = 0; i < 200; i++) {
    const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    if (Object.values(counts).every((n) => n === 0)) return;
    await sleep(20);
  }
  throw new Error(`queue ${handler} did not drain`);
}
