import { defineTemplate, PermanentError, RetryableError } from '@switchyard/core';
import {
  claimStepAttempts,
  expireLeases,
  forceBreaker,
  holdBlockedStep,
  releaseHeldForBreaker,
  withTransaction,
} from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { stepJobId } from '@switchyard/queue';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryStep } from '../src/operator-steps.ts';
import { ScheduleTicker } from '../src/schedule-ticker.ts';
import { createSchedule } from '../src/schedules.ts';
import { createEngineHarness, type EngineHarness } from './harness.ts';

// Every path that enqueues a step again dispatches it with its task's namespace and priority,
// so it takes its fair place in its step type's queue (packages/queue/src/fair-priority.ts).
let h: EngineHarness;

const template = (name: string, handler: string) =>
  defineTemplate({
    namespace: 'tenant_p',
    name,
    version: '1.0.0',
    identity_strategy: 'unique',
    default_dependent_system: 'placement_service',
    steps: [{ name: 'only', handler }],
  });
const retried = template('place_retried', 'place_retry');
const failing = template('place_failing', 'place_fail');
const idle = template('place_idle', 'place_idle');

beforeAll(async () => {
  h = await createEngineHarness();
  // No worker serves place_idle: its jobs wait in the queue for the test.
  await h.start(
    [
      defineStepHandler('place_retry', (ctx) => {
        if (ctx.step.attempt === 1) throw new RetryableError('busy', { retryAfter: 600 });
        return { ok: true };
      }),
      defineStepHandler('place_fail', () => {
        throw new PermanentError('rejected', { errorCode: 'rejected' });
      }),
    ],
    [retried, failing, idle],
  );
});
afterAll(() => h.close());

const stepOf = async (taskId: string) =>
  (await h.pool.query('SELECT id, status, attempts FROM workflow_steps WHERE task_id = $1', [taskId]))
    .rows[0];

describe('a step enqueued again', () => {
  it("is retried (a delayed job) at its task's namespace and priority", async () => {
    const { task } = await h.create({ namespace: 'tenant_p', name: retried.name, context: {}, priority: 4 });
    await waitFor('the retry to wait', async () => (await stepOf(task.id)).status === 'waiting_retry');
    const step = await stepOf(task.id);
    // The retry's job is added just after the failure commits.
    const job = await waitFor('the retry job', () =>
      h.dispatcher.queue('place_retry').getJob(stepJobId(step.id, 2)),
    );
    expect(job.data.fair).toBe('4:tenant_p');
  });

  it("is retried by an operator at its task's namespace and priority", async () => {
    const { task } = await h.create({ namespace: 'tenant_p', name: failing.name, context: {}, priority: -2 });
    await waitFor('the step to fail', async () => (await stepOf(task.id)).status === 'error');
    const result = await retryStep(h, task.id, 'only', { actor: 'test' });
    expect(result.ready).toEqual([expect.objectContaining({ namespace: 'tenant_p', priority: -2 })]);
  });

  it("is taken back from an expired lease at its task's namespace and priority", async () => {
    const { task } = await h.create({ namespace: 'tenant_p', name: idle.name, context: {}, priority: 9 });
    const step = await stepOf(task.id);
    const [claimed] = await claimStepAttempts(h.pool, 'gone-worker', [
      { stepId: step.id, attempt: 1, leaseMs: 1 },
    ]);
    expect(claimed).not.toBeNull();
    // Its worker died: the lease ran out (moved back rather than waited for).
    await h.pool.query(
      `UPDATE workflow_steps SET lease_expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`,
      [step.id],
    );
    const { released } = await withTransaction(h.pool, (client) =>
      expireLeases(client, { limit: 10, actor: 'test' }),
    );
    expect(released).toEqual([
      expect.objectContaining({ stepId: step.id, namespace: 'tenant_p', priority: 9 }),
    ]);
  });

  it("is released by its breaker at its task's namespace and priority", async () => {
    const { task } = await h.create({ namespace: 'tenant_p', name: idle.name, context: {}, priority: 3 });
    const step = await stepOf(task.id);
    const breaker = { dependentSystem: 'placement_service', actor: 'test', reason: 'test' };
    await forceBreaker(h.pool, { ...breaker, action: 'open' });
    expect(
      await holdBlockedStep(h.pool, { stepId: step.id, attempts: 0, point: 'before_claim', actor: 'test' }),
    ).toBe(true);
    await forceBreaker(h.pool, { ...breaker, action: 'reset' });
    const release = await withTransaction(h.pool, (client) =>
      releaseHeldForBreaker(client, 'placement_service', 'test'),
    );
    expect(release.released).toEqual([
      expect.objectContaining({ stepId: step.id, namespace: 'tenant_p', priority: 3 }),
    ]);
  });

  it("is a scheduled task's root, dispatched into the schedule's namespace", async () => {
    const schedule = await createSchedule(
      h.pool,
      {
        namespace: 'tenant_p',
        name: idle.name,
        cron: '0 * * * *',
        timezone: 'UTC',
        context: {},
        overlap: 'allow',
      },
      'test',
    );
    // Due at the top of this hour, as if it had just come.
    await h.pool.query(
      `UPDATE schedules SET next_run_at = date_trunc('hour', clock_timestamp()) WHERE id = $1`,
      [schedule.id],
    );
    const ticker = new ScheduleTicker({
      pool: h.pool,
      dispatcher: h.dispatcher,
      redis: h.redis,
      queuePrefix: h.prefix,
      log: createLogger({ name: 'test', level: 'silent' }),
      actor: 'test',
      pollMs: 60_000,
      graceMs: 3_600_000,
      batchSize: 10,
    });
    const [report] = await ticker.tickNow();
    await ticker.stop();
    expect(report?.created).toHaveLength(1);
    const step = await stepOf(report!.created[0]!);
    const job = await h.dispatcher.queue('place_idle').getJob(stepJobId(step.id, 1));
    // A schedule sets no priority: its tasks have 0.
    expect(job?.data.fair).toBe('0:tenant_p');
  });
});
