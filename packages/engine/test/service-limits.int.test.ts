import { configureServiceLimits, listServiceLimits, releaseHeldForBreaker } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepLimits } from '../src/limit-sweep.ts';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

// One slot for the whole fleet; no scheduler runs, so every release here is the worker's own,
// made when the step holding the slot finishes.
let h: EngineHarness;
const started: string[] = [];
const finish = new Map<string, () => void>();
const template = testTemplate({
  identity_strategy: 'unique',
  steps: [{ name: 'call', handler: 'limited_call', dependent_system: 'one_slot' }],
});

beforeAll(async () => {
  h = await createEngineHarness();
  await configureServiceLimits(h.pool, { one_slot: { maxConcurrent: 1, rate: null, burst: null } }, 'test');
  await h.start(
    [
      defineStepHandler<{ n: number }>('limited_call', async (ctx) => {
        started.push(`task${ctx.task.context.n}`);
        await new Promise<void>((resolve) => finish.set(`task${ctx.task.context.n}`, resolve));
        return { ok: true };
      }),
    ],
    [template],
    { concurrency: 5 },
  );
});
afterAll(() => h.close());

async function until<T>(what: string, check: () => Promise<T | false> | T | false): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('a limit of one call in flight, released by the worker that frees the slot', () => {
  it('holds the others with reason concurrency and starts them oldest first, one at a time', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { n } })).task.id);
      // Each held in turn, so the order of waiting is the order of creation.
      if (n === 1) await until('task1 to start', () => started.length === 1);
      else
        await until(
          `task${n} to wait`,
          async () => (await listServiceLimits(h.pool))[0]!.waiting.concurrency === n - 1,
        );
    }
    const [view] = await listServiceLimits(h.pool);
    expect(view).toMatchObject({ inFlight: 1, waiting: { concurrency: 2, rate: 0 } });
    // The breaker's release (closed, ramping) does not take steps waiting for the limit.
    expect((await releaseHeldForBreaker(h.pool, 'one_slot', 'test')).released).toEqual([]);

    for (const n of [1, 2, 3]) {
      await until(`task${n} to run`, () => finish.has(`task${n}`));
      expect(started).toHaveLength(n);
      finish.get(`task${n}`)!();
    }
    for (const id of ids) expect(await h.waitForTask(id)).toBe('complete');
    expect(started).toEqual(['task1', 'task2', 'task3']);

    for (const id of ids) expect((await h.steps(id))[0]!.attempts).toBe(1);
    const { rows } = await h.pool.query(
      `SELECT from_status, to_status, reason FROM step_transitions WHERE task_id = ANY($1) AND (to_status = 'held' OR from_status = 'held') ORDER BY id`,
      [ids],
    );
    expect(rows).toEqual([
      { from_status: 'enqueued', to_status: 'held', reason: 'concurrency' },
      { from_status: 'enqueued', to_status: 'held', reason: 'concurrency' },
      { from_status: 'held', to_status: 'enqueued', reason: 'concurrency slot freed' },
      { from_status: 'held', to_status: 'enqueued', reason: 'concurrency slot freed' },
    ]);
  });

  it('releases the waiting steps of a system whose limit is removed', async () => {
    const first = started.length;
    const ids: string[] = [];
    for (const n of [4, 5, 6]) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { n } })).task.id);
    }
    await until('one running, two waiting', async () => {
      const [view] = await listServiceLimits(h.pool);
      return started.length === first + 1 && view!.waiting.concurrency === 2;
    });
    await configureServiceLimits(h.pool, {}, 'test');
    const log = createLogger({ name: 'test', level: 'silent' });
    const { released } = await sweepLimits({ pool: h.pool, dispatcher: h.dispatcher, log, actor: 'test' });
    expect(released).toBe(2);
    await until('all three running at once', () => started.length === first + 3);
    for (const n of [4, 5, 6]) finish.get(`task${n}`)!();
    for (const id of ids) expect(await h.waitForTask(id)).toBe('complete');
  });
});
