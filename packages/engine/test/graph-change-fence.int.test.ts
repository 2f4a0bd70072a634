/**
 * A decision or a batch plan changes the task's graph (steps skipped, workers created) in the
 * transaction of its success, so the attempt fence must guard those writes too: an outcome from
 * an attempt that no longer holds the step (its lease expired and the step went back to the
 * queue, the task was cancelled) is kept as stale and changes nothing.
 */
import { type AttemptRecord, recordBatchableSuccess, recordDecisionSuccess } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTemplates } from '../src/templates.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

/** A task created with no worker running: its root step stays enqueued, held by no one. */
async function unclaimedTask(template: ReturnType<typeof testTemplate>) {
  await registerTemplates(h.pool, [template]);
  const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
  const { rows } = await h.pool.query(
    `SELECT id FROM workflow_steps WHERE task_id = $1 AND pending_parents = 0`,
    [task.id],
  );
  return { taskId: task.id, rootStepId: rows[0].id as string };
}

/** The outcome of attempt 1 of `stepId` as a worker that never claimed it would report it. */
function staleRecord(taskId: string, stepId: string): AttemptRecord {
  return {
    stepId,
    taskId,
    attempt: 1,
    workerId: 'worker-that-lost-its-claim',
    dependentSystem: 'test_service',
    startedAt: new Date(Date.now() - 50),
    finishedAt: new Date(),
    probe: false,
    fallback: false,
  };
}

async function statuses(taskId: string) {
  return Object.fromEntries((await h.steps(taskId)).map((step) => [step.name, step.status]));
}

describe('the fence of the success paths that change the graph', () => {
  it('a stale decision skips nothing and readies nothing', async () => {
    const template = testTemplate({
      steps: [
        { name: 'route', handler: 'fence_route', type: 'decision', decides: ['a', 'b'] },
        { name: 'a', handler: 'fence_work', depends_on: ['route'] },
        { name: 'b', handler: 'fence_work', depends_on: ['route'] },
      ],
    });
    const { taskId, rootStepId } = await unclaimedTask(template);
    const before = await statuses(taskId);

    const record = staleRecord(taskId, rootStepId);
    const result = await recordDecisionSuccess(
      h.pool,
      record.workerId,
      { record, results: { activate: ['a'] } },
      ['a'],
    );

    expect(result.applied).toBe(false);
    expect(result.ready).toEqual([]);
    expect(before).toEqual({ route: 'enqueued', a: 'pending', b: 'pending' });
    expect(await statuses(taskId)).toEqual(before);
    const attempts = await h.attempts(taskId);
    expect(attempts.map((a) => [a.step, a.outcome, a.stale])).toEqual([['route', 'success', true]]);
  });

  it('a stale batch plan creates no worker', async () => {
    const template = testTemplate({
      steps: [
        { name: 'plan', handler: 'fence_plan', type: 'batchable' },
        { name: 'work', handler: 'fence_batch', type: 'batch_worker', depends_on: ['plan'] },
        { name: 'after', handler: 'fence_work', depends_on: ['work'] },
      ],
    });
    const { taskId, rootStepId } = await unclaimedTask(template);

    const record = staleRecord(taskId, rootStepId);
    const created = await recordBatchableSuccess(
      h.pool,
      record.workerId,
      { record, results: { total: 30, batch_size: 10 } },
      [0, 10, 20],
    );

    expect(created.kind).toBe('recorded');
    if (created.kind !== 'recorded') return;
    expect(created.outcome.applied).toBe(false);
    expect(created.outcome.ready).toEqual([]);
    expect(await statuses(taskId)).toEqual({ plan: 'enqueued', work: 'pending', after: 'pending' });
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM workflow_steps WHERE task_id = $1', [
      taskId,
    ]);
    expect(rows[0].n).toBe(3);
    const attempts = await h.attempts(taskId);
    expect(attempts.map((a) => [a.step, a.outcome, a.stale])).toEqual([['plan', 'success', true]]);
  });
});
