import { configureServiceLimits, forceBreaker, listServiceLimits } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepLimits } from '../src/limit-sweep.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

// One call in flight for the whole fleet, and a token every 100 s: a fallback that the limit
// held or counted could not start while the one real call runs. No scheduler runs.
let h: EngineHarness;
const calls: number[] = [];
const fallbacks: number[] = [];
const finish = new Map<number, () => void>();
const template = testTemplate({
  identity_strategy: 'unique',
  steps: [
    { name: 'prefs', handler: 'fb_prefs', dependent_system: 'prefs_service', on_breaker_open: 'fallback' },
  ],
});

/** Blocks until the test lets task `n` finish: what runs stays in flight meanwhile. */
function blockUntilFinished(n: number): Promise<void> {
  return new Promise<void>((resolve) => finish.set(n, resolve));
}

beforeAll(async () => {
  h = await createEngineHarness();
  await configureServiceLimits(h.pool, { prefs_service: { maxConcurrent: 1, rate: 0.01, burst: 1 } }, 'test');
  await h.start(
    [
      defineStepHandler<{ n: number }>(
        'fb_prefs',
        async (ctx) => {
          calls.push(ctx.task.context.n);
          await blockUntilFinished(ctx.task.context.n);
          return { plan: 'chosen' };
        },
        {
          fallback: async (ctx) => {
            fallbacks.push(ctx.task.context.n);
            await blockUntilFinished(ctx.task.context.n);
            return { plan: 'defaults' };
          },
        },
      ),
    ],
    [template],
    { concurrency: 6 },
  );
});
afterAll(() => h.close());

const view = async () => (await listServiceLimits(h.pool, { dependentSystem: 'prefs_service' }))[0]!;

describe('fallbacks and the limit of their system', () => {
  it('runs fallbacks beside the one call the limit admits: not held, not counted, no token taken', async () => {
    const first = (await h.create({ namespace: 'test', name: template.name, context: { n: 0 } })).task.id;
    await waitFor('the one real call to run', () => calls.length === 1);
    await forceBreaker(h.pool, {
      dependentSystem: 'prefs_service',
      action: 'open',
      actor: 'test',
      reason: 'preferences down',
    });

    const ids: string[] = [];
    for (const n of [1, 2, 3, 4])
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { n } })).task.id);
    await waitFor('four fallbacks running at once', () => fallbacks.length === 4, 30_000);
    expect(await view()).toMatchObject({ inFlight: 1, waiting: { concurrency: 0, rate: 0 }, reserved: 0 });
    const { rows: bucket } = await h.pool.query(
      `SELECT tokens FROM service_limits WHERE dependent_system = 'prefs_service'`,
    );
    // The real call took the only token; the fallbacks took none (the bucket refills 0.01/s).
    expect(bucket[0].tokens).toBeLessThan(0.5);
    expect(bucket[0].tokens).toBeGreaterThan(-0.5);

    for (const n of [0, 1, 2, 3, 4]) finish.get(n)!();
    for (const id of [first, ...ids]) expect(await h.waitForTask(id)).toBe('complete');
    for (const id of ids) {
      const [step] = await h.steps(id);
      expect(step!.attempts).toBe(1);
    }
    const { rows } = await h.pool.query(
      `SELECT count(*)::int AS n FROM step_transitions WHERE task_id = ANY($1) AND to_status = 'held'`,
      [ids],
    );
    expect(rows[0].n).toBe(0);
    const { rows: attempts } = await h.pool.query(
      `SELECT count(*) FILTER (WHERE fallback)::int AS fallbacks, count(*)::int AS all FROM step_attempts
        WHERE step_id IN (SELECT id FROM workflow_steps WHERE task_id = ANY($1))`,
      [ids],
    );
    expect(attempts[0]).toEqual({ fallbacks: 4, all: 4 });
  });

  it('lets steps waiting for the limit run their fallback once the breaker opens', async () => {
    await forceBreaker(h.pool, {
      dependentSystem: 'prefs_service',
      action: 'reset',
      actor: 'test',
      reason: 'up',
    });
    await configureServiceLimits(
      h.pool,
      { prefs_service: { maxConcurrent: 1, rate: null, burst: null } },
      'test',
    );
    const first = (await h.create({ namespace: 'test', name: template.name, context: { n: 10 } })).task.id;
    await waitFor('the one real call to run', () => calls.includes(10));
    const ids: string[] = [];
    for (const n of [11, 12])
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { n } })).task.id);
    await waitFor('two steps held by the limit', async () => (await view()).waiting.concurrency === 2);

    await forceBreaker(h.pool, {
      dependentSystem: 'prefs_service',
      action: 'open',
      actor: 'test',
      reason: 'down',
    });
    const log = createLogger({ name: 'test', level: 'silent' });
    const { released } = await sweepLimits({ pool: h.pool, dispatcher: h.dispatcher, log, actor: 'test' });
    expect(released).toBe(2);
    // Both fallbacks run beside the one call still holding the only slot.
    await waitFor('both fallbacks running', () => fallbacks.includes(11) && fallbacks.includes(12));
    expect(await view()).toMatchObject({ inFlight: 1, waiting: { concurrency: 0, rate: 0 }, reserved: 0 });
    for (const n of [10, 11, 12]) finish.get(n)!();
    for (const id of [first, ...ids]) expect(await h.waitForTask(id)).toBe('complete');
    const { rows } = await h.pool.query(
      `SELECT count(*)::int AS n FROM step_transitions
        WHERE task_id = ANY($1) AND reason = 'breaker open: runs its fallback, which no limit holds'`,
      [ids],
    );
    expect(rows[0].n).toBe(2);
  });
});
