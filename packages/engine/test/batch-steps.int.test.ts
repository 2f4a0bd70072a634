import { RetryableError } from '@switchyard/core';
import { recordBatchCheckpoint } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

function batchTemplate(prefix: string) {
  return testTemplate({
    retry: { max_attempts: 3, backoff_base_ms: 10, backoff_cap_ms: 50 },
    steps: [
      { name: 'plan', handler: `${prefix}_plan`, type: 'batchable' },
      { name: 'work', handler: `${prefix}_work`, type: 'batch_worker', depends_on: ['plan'] },
      { name: 'join', handler: `${prefix}_join`, depends_on: ['work'] },
    ],
  });
}

async function waitForStep(taskId: string, name: string, status: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await h.pool.query(
      'SELECT status, last_error FROM workflow_steps WHERE task_id = $1 AND name = $2',
      [taskId, name],
    );
    if (rows[0]?.status === status) return rows[0];
    if (Date.now() > deadline) throw new Error(`step ${name} still ${rows[0]?.status}`);
    await sleep(50);
  }
}

async function stepRows(taskId: string) {
  const { rows } = await h.pool.query(
    `SELECT name, status, type, batch_index, batch_cursor, batch_checkpoint, results
       FROM workflow_steps WHERE task_id = $1 ORDER BY batch_index NULLS FIRST, name`,
    [taskId],
  );
  return rows;
}

describe('batch steps', () => {
  it('creates one worker per batch with its cursor, and the join after them waits for all', async () => {
    const finished: Record<number, number> = {};
    let joinStartedAt = 0;
    let joinParents: string[] = [];
    const template = batchTemplate('all');
    await h.start(
      [
        defineStepHandler('all_plan', () => ({ total: 95, batch_size: 10 })),
        defineStepHandler('all_work', async (ctx) => {
          const cursor = ctx.batch!.cursor as { start: number; end: number };
          // Uneven durations, so the join cannot just follow the first worker to finish.
          await sleep(ctx.batch!.index % 3 === 0 ? 300 : 20);
          finished[ctx.batch!.index] = Date.now();
          return { items: cursor.end - cursor.start };
        }),
        defineStepHandler('all_join', (ctx) => {
          joinStartedAt = Date.now();
          joinParents = Object.keys(ctx.parents).sort();
          const items = Object.values(ctx.parents).reduce(
            (n: number, r) => n + (r as { items: number }).items,
            0,
          );
          return { items };
        }),
      ],
      [template],
      { concurrency: 8 },
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    const rows = await stepRows(task.id);
    const workers = rows.filter((r) => r.batch_index !== null);
    expect(workers.map((w) => [w.name, w.batch_index, w.batch_cursor])).toEqual(
      Array.from({ length: 10 }, (_, i) => [
        i === 0 ? 'work' : `work#${i}`,
        i,
        { start: i * 10, end: Math.min(95, (i + 1) * 10) },
      ]),
    );
    expect(workers.every((w) => w.status === 'complete' && w.type === 'batch_worker')).toBe(true);
    expect(Object.keys(finished)).toHaveLength(10);
    expect(joinStartedAt).toBeGreaterThanOrEqual(Math.max(...Object.values(finished)));
    expect(joinParents).toEqual(['work', ...Array.from({ length: 9 }, (_, i) => `work#${i + 1}`)].sort());
    expect(rows.find((r) => r.name === 'join')!.results).toEqual({ items: 95 });
    const { rows: created } = await h.pool.query(
      `SELECT count(*)::int AS n FROM step_transitions WHERE task_id = $1 AND reason = 'created from the batch plan'`,
      [task.id],
    );
    expect(created[0].n).toBe(9);
  });

  it('completes the worker of an empty plan without running it, and the join proceeds', async () => {
    let workerRan = false;
    const template = batchTemplate('zero');
    await h.start(
      [
        defineStepHandler('zero_plan', () => ({ cursors: [] })),
        defineStepHandler('zero_work', () => {
          workerRan = true;
          return {};
        }),
        defineStepHandler('zero_join', (ctx) => ({ parents: Object.keys(ctx.parents) })),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(workerRan).toBe(false);
    const rows = await stepRows(task.id);
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['join', 'complete'],
      ['plan', 'complete'],
      ['work', 'complete'],
    ]);
    expect((await h.attempts(task.id)).map((a) => a.step)).toEqual(['plan', 'join']);
    const { rows: audit } = await h.pool.query(
      `SELECT t.from_status, t.to_status, t.reason FROM step_audit t JOIN workflow_steps s ON s.id = t.step_id
        WHERE s.task_id = $1 AND s.name = 'work' ORDER BY t.id NULLS FIRST`,
      [task.id],
    );
    expect(audit).toEqual([
      { from_status: null, to_status: 'pending', reason: 'created' },
      {
        from_status: 'pending',
        to_status: 'complete',
        reason: 'batch plan has no batches; the worker did not run',
      },
    ]);
  });

  it('fails the batchable step for good on a plan over the limit or malformed, creating nothing', async () => {
    const template = batchTemplate('over');
    let plans = 0;
    await h.start(
      [
        defineStepHandler('over_plan', (ctx) => {
          plans += 1;
          return (ctx.task.context as { plan: unknown }).plan;
        }),
        defineStepHandler('over_work', () => ({})),
        defineStepHandler('over_join', () => ({})),
      ],
      [template],
    );
    const over = await h.create({
      namespace: 'test',
      name: template.name,
      context: { plan: { total: 10_001, batch_size: 1 } },
    });
    const malformed = await h.create({
      namespace: 'test',
      name: template.name,
      context: { plan: { total: 10, batch_size: 0 } },
    });

    for (const { task } of [over, malformed]) {
      expect(await h.waitForTask(task.id)).toBe('error');
      const rows = await stepRows(task.id);
      expect(rows.map((r) => [r.name, r.status, r.batch_index])).toEqual([
        ['join', 'pending', null],
        ['plan', 'error', null],
        ['work', 'pending', null],
      ]);
      const attempts = await h.attempts(task.id);
      expect(attempts.map((a) => [a.step, a.outcome, a.error_code])).toEqual([
        ['plan', 'permanent_error', 'batch_plan_invalid'],
      ]);
    }
    expect(plans).toBe(2);
    const { rows } = await h.pool.query(
      `SELECT s.last_error->>'message' AS message FROM workflow_steps s WHERE s.task_id = $1 AND s.name = 'plan'`,
      [over.task.id],
    );
    expect(rows[0].message).toBe(
      'batch plan 10001 batches (total 10001 / batch_size 1) is over the limit of 10000 batches per task',
    );
  });

  it('counts the limit over the whole task: a second plan that would pass it fails, creating nothing', async () => {
    const template = testTemplate({
      steps: [
        { name: 'first', handler: 'limit_first', type: 'batchable' },
        // No worker serves limit_work here: the first plan's batches stay enqueued.
        { name: 'first_work', handler: 'limit_work', type: 'batch_worker', depends_on: ['first'] },
        { name: 'second', handler: 'limit_second', type: 'batchable', depends_on: ['first'] },
        { name: 'second_work', handler: 'limit_work', type: 'batch_worker', depends_on: ['second'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('limit_first', () => ({ total: 6_000, batch_size: 1 })),
        defineStepHandler('limit_second', () => ({ total: 4_001, batch_size: 1 })),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    const second = await waitForStep(task.id, 'second', 'error');

    expect(second.last_error).toMatchObject({
      code: 'batch_limit_exceeded',
      message:
        'batch plan of 4001 batches would take the task to 10001, over the limit of 10000 batches per task',
    });
    const { rows } = await h.pool.query(
      `SELECT count(*) FILTER (WHERE name LIKE 'first_work%')::int AS first,
              count(*) FILTER (WHERE name LIKE 'second_work%')::int AS second
         FROM workflow_steps WHERE task_id = $1`,
      [task.id],
    );
    expect(rows[0]).toEqual({ first: 6_000, second: 1 });
  });

  it('hands a retried attempt the last checkpoint, and refuses a checkpoint from a stale attempt', async () => {
    const seen: { attempt: number; checkpoint: unknown }[] = [];
    const template = batchTemplate('resume');
    await h.start(
      [
        defineStepHandler('resume_plan', () => ({ cursors: ['a-z'] })),
        defineStepHandler('resume_work', async (ctx) => {
          seen.push({ attempt: ctx.step.attempt, checkpoint: ctx.batch!.checkpoint });
          if (ctx.step.attempt === 1) {
            await ctx.checkpoint('m', { letters: 12 });
            throw new RetryableError('interrupted after m');
          }
          return { resumedFrom: (ctx.batch!.checkpoint as { cursor: string }).cursor };
        }),
        defineStepHandler('resume_join', () => ({})),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    expect(seen).toEqual([
      { attempt: 1, checkpoint: null },
      { attempt: 2, checkpoint: { cursor: 'm', partial: { letters: 12 } } },
    ]);
    const work = (await stepRows(task.id)).find((r) => r.name === 'work')!;
    expect(work.results).toEqual({ resumedFrom: 'm' });
    expect(work.batch_checkpoint).toMatchObject({ cursor: 'm', partial: { letters: 12 }, attempt: 1 });

    const { rows } = await h.pool.query(
      `SELECT id FROM workflow_steps WHERE task_id = $1 AND name = 'work'`,
      [task.id],
    );
    const stale = await recordBatchCheckpoint(h.pool, {
      stepId: rows[0].id,
      attempt: 1,
      workerId: 'someone-else',
      cursor: 'a',
      partial: null,
    });
    expect(stale).toBe(false);
    expect((await stepRows(task.id)).find((r) => r.name === 'work')!.batch_checkpoint).toMatchObject({
      cursor: 'm',
    });
  });
});
