import { randomUUID } from 'node:crypto';
import { readyJobsKey, StepConsumer, StepDispatcher } from '@switchyard/queue';
import { createTestRedis, waitFor } from '@switchyard/testing';
import { afterAll, describe, expect, it } from 'vitest';

const redis = createTestRedis();
afterAll(() => redis.cleanup());

type Sent = { stepId: string; label: string };

function jobs(count: number, label: string, namespace: string, priority = 0) {
  return Array.from({ length: count }, () => ({
    stepId: randomUUID(),
    taskId: randomUUID(),
    attempt: 1,
    handler: 'fair_step',
    namespace,
    priority,
    label,
  }));
}

/** Dispatches `batches` in order onto an idle queue, then takes them one at a time. */
async function takenOrder(batches: ReturnType<typeof jobs>[]): Promise<string[]> {
  const dispatcher = new StepDispatcher({ connection: redis.connection(), prefix: redis.prefix });
  const sent: Sent[] = [];
  for (const batch of batches) {
    await dispatcher.dispatch(batch);
    sent.push(...batch);
  }
  const labels = new Map(sent.map((s) => [s.stepId, s.label]));
  const order: string[] = [];
  const consumer = new StepConsumer({
    connection: redis.connection(),
    prefix: redis.prefix,
    handlers: ['fair_step'],
    concurrency: 1,
    process: async (job) => {
      order.push(labels.get(job.data.stepId) ?? '?');
    },
  });
  await waitFor('every job taken', () => order.length === sent.length, 20_000);
  await consumer.close();
  await dispatcher.close();
  return order;
}

describe('fair queueing of a step type', () => {
  it("takes a second namespace's first job ahead of another's backlog, and a higher priority ahead within one", async () => {
    const order = await takenOrder([
      jobs(20, 'a', 'tenant_a'),
      jobs(1, 'b', 'tenant_b'),
      jobs(1, 'a-urgent', 'tenant_a', 10),
    ]);
    console.log(`[measure] fair queue take order: ${order.join(',')}`);
    // a FIFO queue would take b 21st and a-urgent 22nd
    expect(order.indexOf('b')).toBeLessThan(3);
    expect(order.indexOf('a-urgent')).toBeLessThan(3);
    // every taken job gave its count back
    expect(await redis.connection().hgetall(`${redis.prefix}:step.fair_step:fair-outstanding`)).toEqual({});
  });
});

describe("a step type's ready jobs, as the autoscaler reads them", () => {
  it('counts every dispatched job not yet taken in readyJobsKey, and neither delayed jobs nor the wait list', async () => {
    const dispatcher = new StepDispatcher({ connection: redis.connection(), prefix: redis.prefix });
    const ready = [...jobs(3, 'a', 'tenant_a'), ...jobs(2, 'b', 'tenant_b', 5)].map((job) => ({
      ...job,
      handler: 'scaled_step',
    }));
    const backingOff = { ...jobs(1, 'retry', 'tenant_a')[0]!, handler: 'scaled_step', delayMs: 60_000 };
    await dispatcher.dispatch([...ready, backingOff]);
    const conn = redis.connection();
    // KEDA's redis trigger counts a sorted set with ZCARD and a list with LLEN.
    expect(await conn.type(readyJobsKey(redis.prefix, 'scaled_step'))).toBe('zset');
    expect(await conn.zcard(readyJobsKey(redis.prefix, 'scaled_step'))).toBe(5);
    expect(await conn.llen(`${redis.prefix}:step.scaled_step:wait`)).toBe(0);
    expect(await dispatcher.jobCounts('scaled_step')).toEqual({ wait: 5, delayed: 1, active: 0 });
    await dispatcher.close();
  });
});
