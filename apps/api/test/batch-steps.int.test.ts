import { createSwitchyardClient } from '@switchyard/client';
import { defineTemplate } from '@switchyard/core';
import { defineStepHandler } from '@switchyard/handler-kit';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
});
afterAll(() => h.close());

function template(name: string) {
  return defineTemplate({
    namespace: 'batches',
    name,
    version: '1.0.0',
    default_dependent_system: 'svc',
    steps: [
      { name: 'plan', handler: `${name}_plan`, type: 'batchable' },
      { name: 'work', handler: `${name}_work`, type: 'batch_worker', depends_on: ['plan'] },
      { name: 'report', handler: `${name}_report`, depends_on: ['work'] },
    ],
  });
}

/** The response of the last of five calls, with the median time of the five (the first pays for planning). */
async function timed(method: string, path: string) {
  const times: number[] = [];
  let response: Awaited<ReturnType<ApiHarness['call']>> | undefined;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    response = await h.call(method, path);
    times.push(performance.now() - started);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { ...response!, ms: sorted[2]!, first: times[0]!, bytes: JSON.stringify(response!.body).length };
}

describe('batch groups over HTTP', () => {
  it('shows a batch group on its task as one step with its progress, and pages its workers', async () => {
    const t = template('small');
    await h.register([t]);
    await h.startWorker([
      defineStepHandler('small_plan', () => ({ total: 30, batch_size: 10 })),
      defineStepHandler('small_work', (ctx) => ({ cursor: ctx.batch?.cursor })),
      defineStepHandler('small_report', (ctx) => ({ parents: Object.keys(ctx.parents).length })),
    ]);
    const created = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'batches', name: 'small', context: {} },
    });
    const id = created.body.task.id as string;
    const task = await waitFor('the task to complete', async () => {
      const { body } = await h.call('GET', `/v1/tasks/${id}`);
      return body.status === 'complete' && body;
    });

    expect(task.steps.map((s: { name: string }) => s.name).sort()).toEqual(['plan', 'report', 'work']);
    const work = task.steps.find((s: { name: string }) => s.name === 'work');
    expect(work.batch).toEqual({ total: 3, complete: 3, failed: 0, inFlight: 0 });
    expect(task.steps.find((s: { name: string }) => s.name === 'report')).toMatchObject({
      dependsOn: ['work'],
      batch: null,
      results: { parents: 3 },
    });
    const attempts = await h.call('GET', `/v1/tasks/${id}/attempts`);
    expect(attempts.body.attempts.map((a: { step: string }) => a.step)).toEqual(['plan', 'work', 'report']);

    const first = await h.call('GET', `/v1/tasks/${id}/steps/work/batches?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.workers.map((w: { name: string; index: number }) => [w.name, w.index])).toEqual([
      ['work', 0],
      ['work#1', 1],
    ]);
    expect(first.body.workers[1]).toMatchObject({
      status: 'complete',
      cursor: { start: 10, end: 20 },
      results: { cursor: { start: 10, end: 20 } },
    });
    expect(first.body.nextAfter).toBe(1);
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
    const last = await client.listBatchWorkers(id, 'work', { limit: 2, after: first.body.nextAfter });
    expect(last).toMatchObject({ workers: [{ name: 'work#2', index: 2 }], nextAfter: null });
    const failedOnly = await h.call('GET', `/v1/tasks/${id}/steps/work/batches?status=error`);
    expect(failedOnly.body).toEqual({ workers: [], nextAfter: null });
    const notAGroup = await h.call('GET', `/v1/tasks/${id}/steps/report/batches`);
    expect(notAGroup.status).toBe(404);
    const badLimit = await h.call('GET', `/v1/tasks/${id}/steps/work/batches?limit=0`);
    expect(badLimit.status).toBe(400);
  });

  it('measures 10,000 batches: the creating transaction, the task and its page (printed, not asserted on time)', {
    timeout: 300_000,
  }, async () => {
    const t = template('large');
    await h.register([t]);
    // Only the plan's handler runs here: the 10,000 workers stay enqueued while the reads are measured.
    await h.startWorker([defineStepHandler('large_plan', () => ({ total: 10_000, batch_size: 1 }))]);
    const created = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'batches', name: 'large', context: {} },
    });
    const id = created.body.task.id as string;
    const plan = await waitFor('the plan to complete', async () => {
      const { rows } = await h.pool.query(
        `SELECT completed_at FROM workflow_steps WHERE task_id = $1 AND name = 'plan' AND status = 'complete'`,
        [id],
      );
      return rows[0];
    });
    // Workers are created at the transaction's start (created_at = now()) and the plan completes
    // at the end of its last statement (clock_timestamp()): the difference is the transaction,
    // commit excepted.
    const { rows } = await h.pool.query(
      `SELECT count(*)::int AS workers, count(*) FILTER (WHERE status = 'enqueued')::int AS enqueued,
              min(created_at) AS began
         FROM workflow_steps WHERE task_id = $1 AND batch_index IS NOT NULL`,
      [id],
    );
    expect(rows[0]).toMatchObject({ workers: 10_000, enqueued: 10_000 });
    const transactionMs = plan.completed_at.getTime() - rows[0].began.getTime();

    const detail = await timed('GET', `/v1/tasks/${id}`);
    const attempts = await timed('GET', `/v1/tasks/${id}/attempts`);
    const page = await timed('GET', `/v1/tasks/${id}/steps/work/batches?limit=100&after=5000`);
    expect(detail.body.steps.find((s: { name: string }) => s.name === 'work').batch).toEqual({
      total: 10_000,
      complete: 0,
      failed: 0,
      inFlight: 10_000,
    });
    expect(page.body.workers).toHaveLength(100);
    console.info(
      [
        '[measure] 10,000 batches (this 2-core machine, shared):',
        `  transaction creating the workers and making them ready: ${transactionMs} ms`,
        `  GET /v1/tasks/{id}: median ${detail.ms.toFixed(1)} ms of 5 (first ${detail.first.toFixed(1)} ms), ${detail.bytes} bytes (${detail.body.steps.length} steps listed)`,
        `  dashboard task page (GET task + GET attempts, median): ${(detail.ms + attempts.ms).toFixed(1)} ms, ${detail.bytes + attempts.bytes} bytes`,
        `  GET .../steps/work/batches?limit=100&after=5000: median ${page.ms.toFixed(1)} ms, ${page.bytes} bytes`,
      ].join('\n'),
    );
  });
});
