/**
 * The eager claim (a finished step's worker claims its ready child itself) goes through the same
 * fenced claim as a delivery. Each test reaches one rule of the fence through a local
 * continuation: it changes the world just before the eager claim of the child reaches Postgres
 * (see beforeEagerClaim), then checks what the claim did.
 */
import { forceBreaker } from '@switchyard/db';
import { defineStepHandler, RetryableError } from '@switchyard/handler-kit';
import { stepJobId } from '@switchyard/queue';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTask } from '../src/cancel-task.ts';
import { startScheduler } from '../src/scheduler.ts';
import { beforeEagerClaim, parentAndChild, withStatementHook } from './eager-harness.ts';
import { createEngineHarness, type EngineHarness } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

async function child(taskId: string) {
  const { rows } = await h.pool.query(
    `SELECT status, attempts, results, claimed_by FROM workflow_steps WHERE task_id = $1 AND name = 'child'`,
    [taskId],
  );
  return rows[0];
}

async function childAttempts(taskId: string) {
  const { rows } = await h.pool.query(
    `SELECT a.attempt, a.outcome, a.stale FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
      WHERE a.task_id = $1 AND s.name = 'child' ORDER BY a.attempt, a.finished_at`,
    [taskId],
  );
  return rows;
}

/** A handler that records which step runs, attempt by attempt. */
function recording(name: string, runs: string[]) {
  return defineStepHandler(name, (ctx) => {
    runs.push(`${ctx.step.name}#${ctx.step.attempt}`);
    return { ran: ctx.step.name };
  });
}

describe('the eager claim is fenced like a delivery', () => {
  it('a task cancelled before the eager claim: the claim takes nothing and the child never runs', async () => {
    const runs: string[] = [];
    const { taskId, childId } = await parentAndChild(h, 'eager_cancelled');
    const eager = beforeEagerClaim(h, childId, () =>
      cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, taskId, { actor: 'test' }),
    );
    await h.start([recording('eager_cancelled', runs)], [], { pool: eager.pool });

    expect(await eager.claimedRows).toBe(0);
    expect(await h.waitForTask(taskId)).toBe('cancelled');
    expect(await child(taskId)).toMatchObject({ status: 'cancelled', attempts: 0 });
    // Nothing is left to run it: no job was made for it.
    expect(await h.dispatcher.queue('eager_cancelled').getJob(stepJobId(childId, 1))).toBeUndefined();
    expect(runs).toEqual(['parent#1']);
  });

  it.each([
    ['open', `UPDATE circuit_breakers SET state = 'open', forced = 'open' WHERE dependent_system = $1`],
    [
      'half_open',
      `UPDATE circuit_breakers SET state = 'half_open', forced = NULL, next_probe_at = now() + interval '1 hour'
        WHERE dependent_system = $1`,
    ],
  ])(
    'a breaker %s before the eager claim: the child, not a probe, is held without using an attempt',
    async (state, sql) => {
      const runs: string[] = [];
      const system = `eager_breaker_${state}`;
      const handler = `eager_breaker_${state}`;
      const { taskId, childId } = await parentAndChild(h, handler, { dependent_system: system });
      const eager = beforeEagerClaim(h, childId, async () => {
        await forceBreaker(h.pool, {
          dependentSystem: system,
          action: 'open',
          actor: 'test',
          reason: 'test',
        });
        await h.pool.query(sql, [system]);
      });
      await h.start([recording(handler, runs)], [], { pool: eager.pool });

      expect(await eager.claimedRows).toBe(0);
      await waitFor('the child to be held', async () => (await child(taskId)).status === 'held');
      expect(await child(taskId)).toMatchObject({ attempts: 0 });
      expect(await childAttempts(taskId)).toEqual([]);
      expect(runs).toEqual(['parent#1']);
    },
  );

  it("a breaker open before the eager claim of a fallback step: the claim takes it and runs the handler's fallback", async () => {
    const runs: string[] = [];
    const system = 'eager_fallback_system';
    const handler = defineStepHandler(
      'eager_fallback',
      (ctx): Record<string, boolean> => {
        runs.push(`${ctx.step.name}#${ctx.step.attempt}`);
        return { full: true };
      },
      { fallback: () => ({ degraded: true }) },
    );
    const { taskId, childId } = await parentAndChild(h, 'eager_fallback', {
      dependent_system: system,
      on_breaker_open: 'fallback',
    });
    const eager = beforeEagerClaim(h, childId, () =>
      forceBreaker(h.pool, { dependentSystem: system, action: 'open', actor: 'test', reason: 'test' }),
    );
    await h.start([handler], [], { pool: eager.pool });

    expect(await eager.claimedRows).toBe(1);
    expect(await h.waitForTask(taskId)).toBe('complete');
    expect((await child(taskId)).results).toEqual({ degraded: true, fallback_used: true });
    expect(runs).toEqual(['parent#1']);
  });

  it('a delivery of the child claimed it first: the eager claim misses, the child runs once, late and stale deliveries change nothing', async () => {
    const runs: string[] = [];
    const { taskId, childId } = await parentAndChild(h, 'eager_duplicate');
    const queue = h.dispatcher.queue('eager_duplicate');
    const eager = beforeEagerClaim(h, childId, async () => {
      // The same attempt delivered meanwhile (a repair racing the eager claim), taken by another slot.
      await queue.add(
        'eager_duplicate',
        { stepId: childId, taskId, attempt: 1 },
        { jobId: `${childId}.dup` },
      );
      await waitFor('the delivery to claim the child', async () => (await child(taskId)).attempts === 1);
    });
    await h.start([recording('eager_duplicate', runs)], [], { pool: eager.pool, concurrency: 2 });

    expect(await eager.claimedRows).toBe(0);
    expect(await h.waitForTask(taskId)).toBe('complete');
    await queue.add('eager_duplicate', { stepId: childId, taskId, attempt: 1 }, { jobId: `${childId}.late` });
    await queue.add('eager_duplicate', { stepId: childId, taskId, attempt: 2 }, { jobId: `${childId}.next` });
    await waitFor('the late deliveries to be dropped', async () => {
      const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    });

    expect(runs.filter((run) => run.startsWith('child'))).toEqual(['child#1']);
    expect(await childAttempts(taskId)).toEqual([{ attempt: 1, outcome: 'success', stale: false }]);
  });

  it('a stale eager claim: a delivery already ran the attempt, which failed and waits for its retry; the claim takes nothing', async () => {
    const runs: string[] = [];
    const handler = defineStepHandler('eager_stale', (ctx) => {
      runs.push(`${ctx.step.name}#${ctx.step.attempt}`);
      if (ctx.step.name === 'child') throw new RetryableError('not yet');
      return {};
    });
    const { taskId, childId } = await parentAndChild(h, 'eager_stale', {
      retry: { max_attempts: 3, backoff_base_ms: 600_000, backoff_cap_ms: 600_000 },
    });
    const queue = h.dispatcher.queue('eager_stale');
    const eager = beforeEagerClaim(h, childId, async () => {
      await queue.add('eager_stale', { stepId: childId, taskId, attempt: 1 }, { jobId: `${childId}.dup` });
      await waitFor(
        'the delivered attempt to fail',
        async () => (await child(taskId)).status === 'waiting_retry',
      );
      // Its retry is due: only the attempt number tells the eager claim's attempt 1 from it.
      await h.pool.query('UPDATE workflow_steps SET next_attempt_at = now() WHERE id = $1', [childId]);
    });
    await h.start([handler], [], { pool: eager.pool, concurrency: 2 });

    expect(await eager.claimedRows).toBe(0);
    expect(await child(taskId)).toMatchObject({ status: 'waiting_retry', attempts: 1 });
    expect(runs).toEqual(['parent#1', 'child#1']);
    await cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, taskId, { actor: 'test' });
  });

  it('an eagerly claimed child holds a lease it renews; once it expires the step runs again and the late result changes nothing', async () => {
    const runs: string[] = [];
    let releaseFirst!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const handler = defineStepHandler('eager_lease', async (ctx) => {
      runs.push(`${ctx.step.name}#${ctx.step.attempt}`);
      if (ctx.step.name === 'child' && ctx.step.attempt === 1) await firstMayFinish;
      return { attempt: ctx.step.attempt };
    });
    const { taskId, childId } = await parentAndChild(h, 'eager_lease', { timeout_ms: 60_000 });
    let renewing = true;
    const eager = beforeEagerClaim(h, childId, async () => {});
    // The first worker's lease renewals stop reaching Postgres once `renewing` is false: a worker
    // cut off from the database after its eager claim.
    const cutOff = withStatementHook(eager.pool, (name, _values, run) =>
      name === 'switchyard_renew_lease' && !renewing ? new Promise(() => {}) : run(),
    );
    const cutOffWorker = await h.start([handler], [], {
      pool: cutOff,
      leaseMs: 1_000,
      workerId: 'eager-lease-first',
    });
    expect(await eager.claimedRows).toBe(1);
    const leased = async () =>
      (await h.pool.query('SELECT claimed_by, lease_expires_at FROM workflow_steps WHERE id = $1', [childId]))
        .rows[0] as { claimed_by: string; lease_expires_at: Date };
    const first = await leased();
    expect(first.claimed_by).toBe('eager-lease-first');
    // The lease is the step's timeout (longer than leaseMs), renewed every third of leaseMs.
    await waitFor('a renewal', async () => (await leased()).lease_expires_at > first.lease_expires_at);

    renewing = false;
    await h.pool.query(
      `UPDATE workflow_steps SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [childId],
    );
    const scheduler = await startScheduler({
      pool: h.pool,
      databaseUrl: h.databaseUrl,
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: (await import('@switchyard/logger')).createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 100,
      dispatchGraceMs: 500,
    });
    try {
      await h.start([handler], [], { workerId: 'eager-lease-second' });
      expect(await h.waitForTask(taskId)).toBe('complete');
    } finally {
      await scheduler.stop();
    }
    releaseFirst();
    // Its stop waits for the delivery that ran the parent and, after it, the child's first attempt.
    await cutOffWorker.stop();

    expect(runs.filter((run) => run.startsWith('child')).sort()).toEqual(['child#1', 'child#2']);
    // The late success of attempt 1 changed nothing, and is kept on its attempt's row, stale.
    expect(await childAttempts(taskId)).toEqual([
      { attempt: 1, outcome: 'success', stale: true },
      { attempt: 2, outcome: 'success', stale: false },
    ]);
    const { rows } = await h.pool.query(
      `SELECT a.error_class FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
        WHERE a.task_id = $1 AND s.name = 'child' AND a.attempt = 1`,
      [taskId],
    );
    expect(rows[0].error_class).toBe('LeaseExpired');
    expect(await child(taskId)).toMatchObject({ status: 'complete', results: { attempt: 2 } });
  });
});
