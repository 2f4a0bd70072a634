import { ValidationError } from '@switchyard/core';
import { decide, defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTask } from '../src/cancel-task.ts';
import { resolveStep, retryStep } from '../src/operator-steps.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const operator = { actor: 'operator', reason: 'test' };
const deps = () => ({ pool: h.pool, dispatcher: h.dispatcher });

async function statuses(taskId: string): Promise<Record<string, string>> {
  return Object.fromEntries((await h.steps(taskId)).map((step) => [step.name, step.status]));
}

async function transitionsOf(taskId: string, name: string): Promise<string[]> {
  const { rows } = await h.pool.query(
    `SELECT t.from_status, t.to_status, t.reason FROM step_audit t JOIN workflow_steps s ON s.id = t.step_id
      WHERE s.task_id = $1 AND s.name = $2 ORDER BY t.id NULLS FIRST`,
    [taskId, name],
  );
  return rows.map((row) => `${row.from_status ?? '∅'}→${row.to_status}: ${row.reason ?? ''}`);
}

/** route decides a or b; each branch has a tail; a deferred join after both tails; then final. */
function branchTemplate(prefix: string) {
  return testTemplate({
    steps: [
      { name: 'route', handler: `${prefix}_route`, type: 'decision', decides: ['a', 'b'] },
      { name: 'a', handler: `${prefix}_work`, depends_on: ['route'] },
      { name: 'a_tail', handler: `${prefix}_work`, depends_on: ['a'] },
      { name: 'b', handler: `${prefix}_work`, depends_on: ['route'] },
      { name: 'b_tail', handler: `${prefix}_work`, depends_on: ['b'] },
      { name: 'join', handler: `${prefix}_join`, depends_on: ['a_tail', 'b_tail'], convergence: 'deferred' },
      { name: 'final', handler: `${prefix}_work`, depends_on: ['join'] },
    ],
  });
}

describe('a decision step', () => {
  it('runs the branch it picks, skips the other with its descendants, and the deferred join completes', async () => {
    const ran: string[] = [];
    let joinParents: unknown;
    const template = branchTemplate('d1');
    await h.start(
      [
        defineStepHandler('d1_route', (ctx) => decide([(ctx.task.context as { pick: string }).pick])),
        defineStepHandler('d1_work', (ctx) => {
          ran.push(ctx.step.name);
          return { step: ctx.step.name };
        }),
        defineStepHandler('d1_join', (ctx) => {
          joinParents = ctx.parents;
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: { pick: 'a' } });
    expect(await h.waitForTask(task.id)).toBe('complete');

    expect(await statuses(task.id)).toEqual({
      route: 'complete',
      a: 'complete',
      a_tail: 'complete',
      b: 'skipped',
      b_tail: 'skipped',
      join: 'complete',
      final: 'complete',
    });
    expect(ran.sort()).toEqual(['a', 'a_tail', 'final']);
    expect(joinParents).toEqual({ a_tail: { step: 'a_tail' }, b_tail: null });
    const route = (await h.steps(task.id)).find((step) => step.name === 'route')!;
    expect(route.results).toEqual({ activate: ['a'] });
    expect(await transitionsOf(task.id, 'route')).toContain(
      'in_progress→complete: decided: a (skipped: b, b_tail)',
    );
    expect(await transitionsOf(task.id, 'b')).toEqual([
      '∅→pending: created',
      'pending→skipped: not chosen by decision route',
    ]);
    expect(await transitionsOf(task.id, 'b_tail')).toEqual([
      '∅→pending: created',
      'pending→skipped: parent b was skipped; it cannot run any more',
    ]);
  });

  it('may pick none: a deferred join that also depends on the decision runs, one that does not is skipped', async () => {
    const ran: string[] = [];
    const template = testTemplate({
      steps: [
        { name: 'route', handler: 'd2_route', type: 'decision', decides: ['a', 'b'] },
        { name: 'a', handler: 'd2_work', depends_on: ['route'] },
        { name: 'b', handler: 'd2_work', depends_on: ['route'] },
        { name: 'always', handler: 'd2_work', depends_on: ['route', 'a', 'b'], convergence: 'deferred' },
        { name: 'only_chosen', handler: 'd2_work', depends_on: ['a', 'b'], convergence: 'deferred' },
      ],
    });
    await h.start(
      [
        defineStepHandler('d2_route', () => decide([], { reason: 'nothing to do' })),
        defineStepHandler('d2_work', (ctx) => {
          ran.push(ctx.step.name);
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(await statuses(task.id)).toEqual({
      route: 'complete',
      a: 'skipped',
      b: 'skipped',
      always: 'complete',
      only_chosen: 'skipped',
    });
    expect(ran).toEqual(['always']);
    expect(await transitionsOf(task.id, 'only_chosen')).toContain(
      'pending→skipped: every parent was skipped',
    );
  });

  it('refuses an undeclared name with a clear message and changes nothing else; resolve with a chosen set decides', async () => {
    const ran: string[] = [];
    const template = branchTemplate('d3');
    await h.start(
      [
        defineStepHandler('d3_route', () => ({ activate: ['a', 'c'] })),
        defineStepHandler('d3_work', (ctx) => {
          ran.push(ctx.step.name);
        }),
        defineStepHandler('d3_join', (ctx) => {
          ran.push(ctx.step.name);
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    const [attempt] = await h.attempts(task.id);
    expect(attempt).toMatchObject({
      step: 'route',
      outcome: 'permanent_error',
      error_code: 'decision_invalid',
    });
    const { rows } = await h.pool.query(
      `SELECT last_error->>'message' AS message FROM workflow_steps WHERE task_id = $1 AND name = 'route'`,
      [task.id],
    );
    expect(rows[0].message).toBe(
      'step route: the decision chose "c", not declared under decides (declared: a, b)',
    );
    expect(await statuses(task.id)).toMatchObject({
      route: 'error',
      a: 'pending',
      b: 'pending',
      join: 'pending',
    });

    // A decision is not resolved without its choice, nor with a name it does not declare.
    await expect(resolveStep(deps(), task.id, 'route', operator)).rejects.toThrow(
      /route is a decision step: resolve it with the steps it chooses, any of a, b/,
    );
    await expect(resolveStep(deps(), task.id, 'route', { ...operator, chosen: ['c'] })).rejects.toThrow(
      ValidationError,
    );
    await expect(resolveStep(deps(), task.id, 'a', { ...operator, chosen: ['b'] })).rejects.toThrow(
      /a is not a decision step/,
    );
    expect(await statuses(task.id)).toMatchObject({ route: 'error', a: 'pending', b: 'pending' });

    const result = await resolveStep(deps(), task.id, 'route', { ...operator, chosen: ['b'] });
    expect(result.task).toEqual({ from: 'error', to: 'in_progress' });
    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(await statuses(task.id)).toEqual({
      route: 'resolved_manually',
      a: 'skipped',
      a_tail: 'skipped',
      b: 'complete',
      b_tail: 'complete',
      join: 'complete',
      final: 'complete',
    });
    expect(ran.sort()).toEqual(['b', 'b_tail', 'final', 'join']);
    expect((await h.steps(task.id)).find((step) => step.name === 'route')!.results).toEqual({
      activate: ['b'],
    });
    expect(await transitionsOf(task.id, 'route')).toContain(
      'error→resolved_manually: test; decided: b (skipped: a, a_tail)',
    );
  });

  it('decides when an operator retries it after a failure', async () => {
    let calls = 0;
    const template = branchTemplate('d4');
    await h.start(
      [
        defineStepHandler('d4_route', () => {
          calls += 1;
          if (calls === 1) throw new PermanentError('the plan service said no', { errorCode: 'refused' });
          return decide(['a', 'b']);
        }),
        defineStepHandler('d4_work', () => {}),
        defineStepHandler('d4_join', () => {}),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    await retryStep(deps(), task.id, 'route', operator);
    expect(await h.waitForTask(task.id)).toBe('complete');
    const all = Object.values(await statuses(task.id));
    expect(all.every((status) => status === 'complete')).toBe(true);
  });

  it('is cancelled with its task while it decides: its branches are cancelled, not skipped', async () => {
    let started = false;
    let aborted = false;
    const template = branchTemplate('d5');
    await h.start(
      [
        defineStepHandler('d5_route', async (ctx) => {
          started = true;
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          aborted = true;
          return decide(['a']);
        }),
        defineStepHandler('d5_work', () => {}),
        defineStepHandler('d5_join', () => {}),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await waitFor('the handler to start', () => started);
    await cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, task.id, operator);
    await waitFor('the handler to be aborted', () => aborted);
    await waitFor('the attempt to be recorded', async () => (await h.attempts(task.id)).length === 1);
    expect(await h.waitForTask(task.id)).toBe('cancelled');
    const all = await statuses(task.id);
    expect(Object.values(all).every((status) => status === 'cancelled')).toBe(true);
    const [attempt] = await h.attempts(task.id);
    expect(attempt!.stale || attempt!.outcome === 'aborted').toBe(true);
  });
});
