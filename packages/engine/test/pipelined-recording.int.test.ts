/**
 * A successful attempt gives its slot back when its handler ends: the next delivery runs while
 * the success is being recorded, recordings beyond RECORDINGS_PER_SLOT per slot hold their
 * delivery (so BullMQ hands out no more), and stop() returns only once every outcome is
 * recorded. A failure is recorded before its slot takes another job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { registerTemplate } from '@switchyard/db';
import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORDINGS_PER_SLOT } from '../src/step-runner.ts';
import { gate, withStatementHook } from './eager-harness.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(async () => {
  await h.close();
});

/**
 * The harness's pool, with every success statement that records a step of `held` waiting until
 * `open()`; `heldStatements()` counts the statements waiting now.
 */
function holdSuccesses(held: Set<string>) {
  const { open, opened } = gate();
  let waiting = 0;
  const recorded: string[] = [];
  const pool = withStatementHook(h.pool, async (name, values, run) => {
    const ids = values?.[0];
    if (name !== 'switchyard_step_successes' || !Array.isArray(ids) || !ids.some((id) => held.has(id)))
      return run();
    waiting += 1;
    await opened;
    waiting -= 1;
    const result = await run();
    recorded.push(...(ids as string[]));
    return result;
  });
  return { pool, open, heldStatements: () => waiting, recorded };
}

async function oneStepTask(template: string): Promise<{ taskId: string; stepId: string }> {
  const { task } = await h.create({ namespace: 'test', name: template, context: {} });
  const { rows } = await h.pool.query('SELECT id FROM workflow_steps WHERE task_id = $1', [task.id]);
  return { taskId: task.id, stepId: rows[0].id };
}

async function stepStatus(stepId: string): Promise<string> {
  const { rows } = await h.pool.query('SELECT status FROM workflow_steps WHERE id = $1', [stepId]);
  return rows[0].status;
}

/** Registers a template of one step of `handler`; returns its name. */
async function registerOneStep(handler: string): Promise<string> {
  const template = testTemplate({ identity_strategy: 'unique', steps: [{ name: 'only', handler }] });
  await registerTemplate(h.pool, template);
  return template.name;
}

describe('recording an outcome after the slot is given back', () => {
  it('runs the next delivery in the slot while the outcome waits to be recorded, and stop() waits for the recording', async () => {
    const handler = defineStepHandler('pipelined_next', () => ({}));
    const template = await registerOneStep('pipelined_next');
    const first = await oneStepTask(template);
    const hold = holdSuccesses(new Set([first.stepId]));
    const worker = await h.start([handler], [], { pool: hold.pool, concurrency: 1 });
    await waitFor('the first outcome to wait for its statement', async () => hold.heldStatements() === 1);

    const second = await oneStepTask(template);
    expect(await h.waitForTask(second.taskId)).toBe('complete');
    expect(await stepStatus(first.stepId)).toBe('in_progress');

    const order: string[] = [];
    const stopped = worker.stop().then(() => order.push('stopped'));
    const queue = h.dispatcher.queue('pipelined_next');
    await waitFor('the worker to stop taking jobs', async () => (await queue.getWorkers()).length === 0);
    // Room for a stop() that does not wait for recordings to return before the outcome is recorded.
    await sleep(200);
    expect(order).toEqual([]);
    hold.open();
    await stopped;
    expect(hold.recorded).toContain(first.stepId);
    expect(order).toEqual(['stopped']);
    expect(await stepStatus(first.stepId)).toBe('complete');
    expect(await h.waitForTask(first.taskId)).toBe('complete');
  });

  it(`holds a finished attempt's delivery once ${RECORDINGS_PER_SLOT} recordings per slot wait, so BullMQ hands out no more`, async () => {
    let ran = 0;
    const handler = defineStepHandler('pipelined_full', () => {
      ran += 1;
      return {};
    });
    const template = await registerOneStep('pipelined_full');
    const tasks = [];
    for (let i = 0; i < RECORDINGS_PER_SLOT + 3; i += 1) tasks.push(await oneStepTask(template));
    const hold = holdSuccesses(new Set(tasks.map((t) => t.stepId)));
    await h.start([handler], [], { pool: hold.pool, concurrency: 1 });

    // The recordings fill up; one more attempt runs and then waits, holding its delivery.
    await waitFor('the recordings and one more attempt', async () => ran === RECORDINGS_PER_SLOT + 1);
    const queue = h.dispatcher.queue('pipelined_full');
    expect((await queue.getJobCounts('active')).active).toBe(1);
    // Room for a worker that does not hold the delivery to take the next job.
    await sleep(200);
    expect(ran).toBe(RECORDINGS_PER_SLOT + 1);
    const counts = await queue.getJobCounts('waiting', 'prioritized');
    expect((counts.waiting ?? 0) + (counts.prioritized ?? 0)).toBe(2);

    hold.open();
    for (const { taskId } of tasks) expect(await h.waitForTask(taskId)).toBe('complete');
    expect(ran).toBe(tasks.length);
  });

  it('records a failure before its slot claims the next delivery, so the breaker would count it', async () => {
    const handler = defineStepHandler('pipelined_failure', (ctx) => {
      if (ctx.step.name === 'only' && failing.has(ctx.task.id))
        throw new PermanentError('refused', { errorCode: 'refused' });
      return {};
    });
    const failing = new Set<string>();
    const template = await registerOneStep('pipelined_failure');
    const first = await oneStepTask(template);
    failing.add(first.taskId);
    const second = await oneStepTask(template);
    const failuresAtClaim: number[] = [];
    const pool = withStatementHook(h.pool, async (name, values, run) => {
      const ids = values?.[0];
      if (name === 'switchyard_claim_steps' && Array.isArray(ids) && ids.includes(second.stepId)) {
        const { rows } = await h.pool.query(
          `SELECT count(*)::int AS n FROM step_attempts WHERE step_id = $1 AND outcome <> 'success'`,
          [first.stepId],
        );
        failuresAtClaim.push(rows[0].n);
      }
      return run();
    });
    await h.start([handler], [], { pool, concurrency: 1 });
    expect(await h.waitForTask(first.taskId)).toBe('error');
    expect(await h.waitForTask(second.taskId)).toBe('complete');
    expect(failuresAtClaim).toEqual([1]);
  });
});
