/**
 * An attempt that answered without calling its service (ctx.noServiceCall) is recorded as such
 * and is no evidence for its system's adaptive limit.
 */
import { readAdaptiveWindow } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

describe('an attempt that made no service call', () => {
  it('is recorded with called = false and left out of the adaptive limit’s window', async () => {
    const handler = defineStepHandler<{ cached: boolean }>('maybe_cached', async (ctx) => {
      if (ctx.task.context.cached) {
        ctx.noServiceCall();
        return { cached: true };
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { cached: false };
    });
    const template = testTemplate({
      identity_strategy: 'unique',
      default_dependent_system: 'cached_svc',
      steps: [{ name: 'only', handler: 'maybe_cached' }],
    });
    await h.start([handler], [template]);
    const ids: string[] = [];
    for (const cached of [true, true, true, false, false]) {
      const { task } = await h.create({ namespace: 'test', name: template.name, context: { cached } });
      ids.push(task.id);
    }
    for (const id of ids) expect(await h.waitForTask(id)).toBe('complete');

    const { rows } = await h.pool.query(
      `SELECT t.context->>'cached' AS cached, a.called FROM step_attempts a JOIN tasks t ON t.id = a.task_id
        WHERE a.task_id = ANY($1) ORDER BY 1, 2`,
      [ids],
    );
    expect(rows.map((r) => [r.cached, r.called])).toEqual([
      ['false', true],
      ['false', true],
      ['true', false],
      ['true', false],
      ['true', false],
    ]);
    const window = await readAdaptiveWindow(h.pool, {
      dependentSystem: 'cached_svc',
      windowMs: 60_000,
      since: null,
    });
    // Only the two calls: the three cache hits would have put the median near 0 ms.
    expect(window.calls).toBe(2);
    expect(window.p50Ms).toBeGreaterThanOrEqual(25);
  });
});
