import { claimStepAttempts, type Pool, registerTemplate } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimBatcher } from '../src/claim-batcher.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

// Roots only, so every step is enqueued at creation; no worker runs in these tests.
const template = testTemplate({
  identity_strategy: 'unique',
  steps: ['a', 'b', 'c'].map((name) => ({ name, handler: 'claims_noop' })),
});

async function enqueuedTask(): Promise<{ taskId: string; stepIds: Record<string, string> }> {
  const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
  const { rows } = await h.pool.query('SELECT id, name FROM workflow_steps WHERE task_id = $1', [task.id]);
  return { taskId: task.id, stepIds: Object.fromEntries(rows.map((r) => [r.name, r.id])) };
}

describe('claiming several deliveries in one statement', () => {
  beforeAll(async () => {
    await registerTemplate(h.pool, template);
  });

  it('judges each delivery by the fence on its own and claims a duplicated one once', async () => {
    const { taskId, stepIds } = await enqueuedTask();
    const lease = { leaseMs: 30_000 };
    const claimed = await claimStepAttempts(h.pool, 'worker-1', [
      { stepId: stepIds.a!, attempt: 1, ...lease },
      { stepId: stepIds.b!, attempt: 1, ...lease },
      { stepId: stepIds.a!, attempt: 1, ...lease }, // a duplicate delivery in the same batch
      { stepId: stepIds.c!, attempt: 2, ...lease }, // an attempt the step has not reached
    ]);

    expect(claimed.map((step) => step?.name ?? null)).toEqual(['a', 'b', null, null]);
    expect(claimed[0]).toMatchObject({ taskId, attempt: 1, fallback: false, parentResults: {} });
    const steps = await h.steps(taskId);
    expect(steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['a', 'in_progress', 1],
      ['b', 'in_progress', 1],
      ['c', 'enqueued', 0],
    ]);
    const transitions = await h.pool.query(
      `SELECT s.name, t.from_status, t.to_status, t.actor FROM step_transitions t
         JOIN workflow_steps s ON s.id = t.step_id
        WHERE t.task_id = $1 AND t.to_status = 'in_progress' ORDER BY s.name`,
      [taskId],
    );
    expect(transitions.rows).toEqual([
      { name: 'a', from_status: 'enqueued', to_status: 'in_progress', actor: 'worker-1' },
      { name: 'b', from_status: 'enqueued', to_status: 'in_progress', actor: 'worker-1' },
    ]);
    const started = await h.pool.query(
      `SELECT count(*)::int AS n FROM task_transitions WHERE task_id = $1 AND to_status = 'in_progress'`,
      [taskId],
    );
    expect(started.rows[0].n).toBe(1);
  });

  it('sends the deliveries that arrive while a claim runs together, each getting its own step', async () => {
    const tasks = await Promise.all(Array.from({ length: 10 }, () => enqueuedTask()));
    let statements = 0;
    const counting = new Proxy(h.pool, {
      get(target, property, receiver) {
        if (property !== 'query') return Reflect.get(target, property, receiver);
        return (...args: Parameters<Pool['query']>) => {
          statements += 1;
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      },
    });
    const batcher = new ClaimBatcher(counting, 'worker-2');
    const requests = tasks.flatMap((t) =>
      Object.values(t.stepIds).map((stepId) => ({ stepId, attempt: 1, leaseMs: 30_000 })),
    );

    const claimed = await Promise.all(requests.map((request) => batcher.claim(request)));

    expect(claimed.map((step) => step?.id)).toEqual(requests.map((r) => r.stepId));
    // The first claim goes alone and at once; the 29 behind it share a statement or two.
    expect(statements).toBeLessThanOrEqual(3);
    expect(await batcher.claim(requests[0]!)).toBeNull(); // already claimed: the fence refuses
  });
});
