/**
 * The eager claim's own behaviour: a ready child runs in the slot its parent frees, as itself in
 * the logs and the trace, or waits for the next slot ahead of the deliveries; with a slot free
 * when its parent's success is recorded, it is claimed by that statement, and handed back when
 * the slot was taken meanwhile and none frees in time; children that find
 * no slot in time, children of a stopping worker and every child with the eager claim off go
 * through the queue; a worker lost between a success and the eager claim leaves the child to the
 * scheduler's missing-job repair.
 */
import { configureServiceLimits, registerTemplate } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { stepJobId } from '@switchyard/queue';
import { waitFor } from '@switchyard/testing';
import { InMemorySpanExporter, startTracing } from '@switchyard/tracing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../src/scheduler.ts';
import { beforeEagerClaim, gate, parentAndChild, withStatementHook } from './eager-harness.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

const spans = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'eager-claim-test', exporter: spans });

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(async () => {
  await h.close();
  await tracing.shutdown();
});

async function stepIds(taskId: string): Promise<Record<string, string>> {
  const { rows } = await h.pool.query('SELECT id, name FROM workflow_steps WHERE task_id = $1', [taskId]);
  return Object.fromEntries(rows.map((r) => [r.name, r.id]));
}

async function statuses(taskId: string): Promise<Record<string, string>> {
  const { rows } = await h.pool.query('SELECT name, status FROM workflow_steps WHERE task_id = $1', [taskId]);
  return Object.fromEntries(rows.map((r) => [r.name, r.status]));
}

/** A handler whose children wait at a gate, counting the most attempts that ran at once. */
function childrenAtGate(name: string) {
  let running = 0;
  let most = 0;
  const children = gate();
  const handler = defineStepHandler(name, async (ctx) => {
    running += 1;
    most = Math.max(most, running);
    if (ctx.step.name !== 'parent') await children.opened;
    running -= 1;
    return {};
  });
  return { handler, children, most: () => most };
}

/** A parent with three children, all of `handler`, created before any worker serves it. */
async function fanOut(handler: string): Promise<string> {
  const template = testTemplate({
    identity_strategy: 'unique',
    steps: [
      { name: 'parent', handler },
      ...['c1', 'c2', 'c3'].map((name) => ({ name, handler, depends_on: ['parent'] })),
    ],
  });
  await registerTemplate(h.pool, template);
  return (await h.create({ namespace: 'test', name: template.name, context: {} })).task.id;
}

describe('the eager claim', () => {
  it('runs a ready child in the slot its parent frees, without a job, logging and tracing as the child', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      name: 'test',
      level: 'info',
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    const handler = defineStepHandler('eager_context', (ctx) => {
      ctx.log.info('handler ran');
      return {};
    });
    const { taskId, childId } = await parentAndChild(h, 'eager_context');
    const eager = beforeEagerClaim(h, childId, async () => {});
    await h.start([handler], [], { pool: eager.pool, logger, concurrency: 1 });

    expect(await eager.claimedRows).toBe(1);
    expect(await h.waitForTask(taskId)).toBe('complete');
    // The task's completion is logged just after it commits.
    const childLines = await waitFor('the last line of the child', () => {
      const found = lines.filter((line) => line.step_id === childId);
      return found.at(-1)?.msg === 'task complete' && found;
    });
    expect(childLines.map((line) => line.msg)).toEqual([
      'step attempt started',
      'handler ran',
      'step complete',
      'task complete',
    ]);
    for (const line of childLines)
      expect(line).toMatchObject({ task_id: taskId, step_name: 'child', attempt: 1 });
    expect(childLines[0]).toMatchObject({ continuation: 1 });
    // The child's span is a child of the task's creation, as a delivered step's is, not of the parent step's.
    const { rows } = await h.pool.query('SELECT trace_context FROM tasks WHERE id = $1', [taskId]);
    const [, traceId, creationSpanId] = (rows[0].trace_context as string).split('-');
    for (const name of ['step parent', 'step child']) {
      const span = spans
        .getFinishedSpans()
        .find((s) => s.name === name && s.attributes['switchyard.task_id'] === taskId);
      expect(span?.spanContext().traceId).toBe(traceId);
      expect(span?.parentSpanContext?.spanId).toBe(creationSpanId);
    }
  });

  it('claims no more children than slots: with one slot, one child continues and the others go through the queue once their wait for a slot ends', async () => {
    const { handler, children, most } = childrenAtGate('eager_one_slot');
    const taskId = await fanOut('eager_one_slot');
    const ids = await stepIds(taskId);
    const worker = await h.start([handler], [], { concurrency: 1 });

    const queue = h.dispatcher.queue('eager_one_slot');
    const jobs = () => Promise.all(['c1', 'c2', 'c3'].map((name) => queue.getJob(stepJobId(ids[name]!, 1))));
    await waitFor('two children to be dispatched', async () => (await jobs()).filter(Boolean).length === 2);
    await waitFor('one child to run', async () =>
      Object.values(await statuses(taskId)).includes('in_progress'),
    );
    expect(Object.values(await statuses(taskId)).sort()).toEqual([
      'complete',
      'enqueued',
      'enqueued',
      'in_progress',
    ]);
    expect(worker.inFlightCount()).toBe(1);
    children.open();

    expect(await h.waitForTask(taskId)).toBe('complete');
    expect(most()).toBe(1);
  });

  it('takes idle slots for the other children, and a delivery waits while they hold every slot', async () => {
    const { handler, children, most } = childrenAtGate('eager_idle_slots');
    const taskId = await fanOut('eager_idle_slots');
    const ids = await stepIds(taskId);
    const worker = await h.start([handler], [], { concurrency: 3 });
    await waitFor('the three children to run', async () => worker.inFlightCount() === 3);
    const queue = h.dispatcher.queue('eager_idle_slots');
    for (const name of ['c1', 'c2', 'c3'])
      expect(await queue.getJob(stepJobId(ids[name]!, 1))).toBeUndefined();
    // Another task's first step is delivered now; BullMQ has free slots, the worker has none.
    const other = await fanOut('eager_idle_slots');
    // The first task's delivery ended with its handler: the only active one is this one's.
    await waitFor('its delivery to be taken', async () => (await queue.getJobCounts('active')).active === 1);
    expect((await statuses(other)).parent).toBe('enqueued');
    expect(worker.inFlightCount()).toBe(3);
    children.open();

    expect(await h.waitForTask(taskId)).toBe('complete');
    expect(await h.waitForTask(other)).toBe('complete');
    expect(most()).toBe(3);
  });

  it('a child of a busy worker waits for the next free slot, ahead of a waiting delivery, and runs here', async () => {
    // One slot. The parent's success is held until another task's step has taken the slot the
    // parent freed and a third task's step waits in the queue; then the child waits for the slot.
    const otherRunning = gate();
    const otherDone = gate();
    const ran: string[] = [];
    const handler = defineStepHandler('eager_waits', async (ctx) => {
      ran.push(ctx.step.name);
      if (ctx.step.name === 'other') {
        otherRunning.open();
        await otherDone.opened;
      }
      return {};
    });
    const oneStep = async (name: string) => {
      const template = testTemplate({
        identity_strategy: 'unique',
        steps: [{ name, handler: 'eager_waits' }],
      });
      await registerTemplate(h.pool, template);
      return (await h.create({ namespace: 'test', name: template.name, context: {} })).task.id;
    };
    const { taskId, childId } = await parentAndChild(h, 'eager_waits');
    const eager = beforeEagerClaim(h, childId, async () => {});
    let other = '';
    let later = '';
    let parentRecorded = false;
    const pool = withStatementHook(eager.pool, async (name, _values, run) => {
      if (name !== 'switchyard_step_successes' || other) return run();
      other = await oneStep('other');
      await otherRunning.opened;
      later = await oneStep('later');
      const result = await run();
      parentRecorded = true;
      return result;
    });
    await h.start([handler], [], { pool, concurrency: 1, continuationWaitMs: 60_000 });

    // Nothing between the parent's commit and the child's wait for a slot reaches Postgres or
    // Redis, so by the next poll the child is waiting for the slot the other step holds.
    await waitFor("the parent's success to commit", () => parentRecorded);
    otherDone.open();
    // Claimed while it had no job: it waited here and did not go through the queue.
    expect(await eager.claimedRows).toBe(1);
    for (const id of [taskId, other, later]) expect(await h.waitForTask(id)).toBe('complete');
    expect(ran).toEqual(['parent', 'other', 'child', 'later']);
  });

  it("claims a child with its parent's success when a slot of its type is free: no claim statement and no job", async () => {
    const ran: string[] = [];
    const handler = defineStepHandler('eager_folded', (ctx) => {
      ran.push(`${ctx.step.name}#${ctx.step.attempt}`);
      return { ran: ctx.step.name, parents: ctx.parents };
    });
    const { taskId, childId } = await parentAndChild(h, 'eager_folded');
    const claimsOfChild: unknown[] = [];
    const pool = withStatementHook(h.pool, (name, values, run) => {
      const ids = values?.[0];
      if (name === 'switchyard_claim_steps' && Array.isArray(ids) && ids.includes(childId))
        claimsOfChild.push(ids);
      return run();
    });
    await h.start([handler], [], { pool, concurrency: 1 });

    expect(await h.waitForTask(taskId)).toBe('complete');
    expect(ran).toEqual(['parent#1', 'child#1']);
    expect(claimsOfChild).toEqual([]);
    expect(await h.dispatcher.queue('eager_folded').getJob(stepJobId(childId, 1))).toBeUndefined();
    const { rows } = await h.pool.query('SELECT results FROM workflow_steps WHERE id = $1', [childId]);
    expect(rows[0].results).toEqual({ ran: 'child', parents: { parent: { ran: 'parent', parents: {} } } });
    const { rows: transitions } = await h.pool.query(
      'SELECT from_status, to_status FROM step_transitions WHERE step_id = $1 ORDER BY id',
      [childId],
    );
    expect(transitions.map((t) => `${t.from_status}->${t.to_status}`)).toEqual([
      'pending->enqueued',
      'enqueued->in_progress',
      'in_progress->complete',
    ]);
  });

  it('a child claimed with its parent that finds no slot in time is handed back, its attempt uncounted, and runs through the queue', async () => {
    // One slot, free when the parent's success statement starts; another task's step takes it
    // while the statement runs, so the child claimed there waits for it, in vain.
    const otherRunning = gate();
    const otherDone = gate();
    const ran: string[] = [];
    const handler = defineStepHandler('eager_handed_back', async (ctx) => {
      ran.push(`${ctx.step.name}#${ctx.step.attempt}`);
      if (ctx.step.name === 'other') {
        otherRunning.open();
        await otherDone.opened;
      }
      return {};
    });
    const { taskId, childId } = await parentAndChild(h, 'eager_handed_back');
    const otherTemplate = testTemplate({
      identity_strategy: 'unique',
      steps: [{ name: 'other', handler: 'eager_handed_back' }],
    });
    await registerTemplate(h.pool, otherTemplate);
    let other = '';
    const pool = withStatementHook(h.pool, async (name, _values, run) => {
      if (name !== 'switchyard_step_successes' || other) return run();
      other = (await h.create({ namespace: 'test', name: otherTemplate.name, context: {} })).task.id;
      await otherRunning.opened;
      return run();
    });
    await h.start([handler], [], { pool, concurrency: 1, continuationWaitMs: 50 });

    const job = await waitFor('the handed-back child to get a job', () =>
      h.dispatcher.queue('eager_handed_back').getJob(stepJobId(childId, 2)),
    );
    expect(job).toBeDefined();
    otherDone.open();
    expect(await h.waitForTask(taskId)).toBe('complete');
    expect(await h.waitForTask(other)).toBe('complete');
    expect(ran).toEqual(['parent#1', 'other#1', 'child#2']);
    const attempts = (await h.attempts(taskId)).filter((a) => a.step === 'child');
    expect(attempts.map((a) => [a.attempt, a.outcome, a.error_class])).toEqual([
      [1, 'aborted', 'NoFreeSlot'],
      [2, 'success', null],
    ]);
    const { rows } = await h.pool.query('SELECT uncounted_attempts FROM workflow_steps WHERE id = $1', [
      childId,
    ]);
    expect(rows[0].uncounted_attempts).toBe(1);
  });

  it('a stopping worker dispatches the children of a step that finishes instead of running them', async () => {
    const parent = gate();
    const ranBy: string[] = [];
    const handler = (worker: string) =>
      defineStepHandler('eager_stopping', async (ctx) => {
        ranBy.push(`${ctx.step.name}@${worker}`);
        if (ctx.step.name === 'parent') await parent.opened;
        return {};
      });
    const { taskId, childId } = await parentAndChild(h, 'eager_stopping');
    const stopping = await h.start([handler('stopping')], [], { workerId: 'eager-stopping' });
    await waitFor('the parent to run', async () => ranBy.includes('parent@stopping'));

    // stop() turns local continuations off before its first await.
    const stopped = stopping.stop();
    parent.open();
    await stopped;
    expect((await statuses(taskId)).child).toBe('enqueued');
    expect(await h.dispatcher.queue('eager_stopping').getJob(stepJobId(childId, 1))).toBeDefined();

    await h.start([handler('taker')], []);
    expect(await h.waitForTask(taskId)).toBe('complete');
    expect(ranBy).toEqual(['parent@stopping', 'child@taker']);
  });

  it('with the eager claim off, every child goes through the queue', async () => {
    const child = gate();
    const handler = defineStepHandler('eager_off', async (ctx) => {
      if (ctx.step.name === 'child') await child.opened;
      return {};
    });
    const { taskId, childId } = await parentAndChild(h, 'eager_off');
    await h.start([handler], [], { eagerClaim: false });
    await waitFor('the child to run', async () => (await statuses(taskId)).child === 'in_progress');
    const job = await h.dispatcher.queue('eager_off').getJob(stepJobId(childId, 1));
    expect(await job?.getState()).toBe('active');
    child.open();
    expect(await h.waitForTask(taskId)).toBe('complete');
  });

  it('a worker lost between the success and the eager claim: the missing-job repair dispatches the child', async () => {
    const unstick = gate();
    const ranBy: string[] = [];
    const handler = (worker: string) =>
      defineStepHandler('eager_lost', (ctx) => {
        ranBy.push(`${ctx.step.name}@${worker}`);
        return {};
      });
    const { taskId, childId } = await parentAndChild(h, 'eager_lost');
    // The eager claim never reaches Postgres while the gate is shut: for the database the worker
    // is gone right after the parent's success committed, and no job exists for the child.
    const eager = beforeEagerClaim(h, childId, () => unstick.opened);
    const lost = await h.start([handler('lost')], [], { pool: eager.pool, concurrency: 1 });
    await waitFor('the parent to complete', async () => (await statuses(taskId)).parent === 'complete');
    // Lost: it takes no more jobs. Its stop() waits for the eager claim, which waits at the gate.
    const stopped = lost.stop();
    const scheduler = await startScheduler({
      pool: h.pool,
      databaseUrl: h.databaseUrl,
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 200,
      dispatchGraceMs: 500,
    });
    try {
      await h.start([handler('other')], []);
      expect(await h.waitForTask(taskId)).toBe('complete');
    } finally {
      await scheduler.stop();
    }
    unstick.open();
    await stopped;
    expect(await eager.claimedRows).toBe(0);
    expect(ranBy).toEqual(['parent@lost', 'child@other']);
    const { rows } = await h.pool.query(
      `SELECT extract(epoch FROM c.started_at - p.completed_at) * 1000 AS ms
         FROM workflow_steps p JOIN workflow_steps c ON c.task_id = p.task_id
        WHERE p.task_id = $1 AND p.name = 'parent' AND c.name = 'child'`,
      [taskId],
    );
    console.info(
      `[measure] child of a worker lost before its eager claim started ${Math.round(Number(rows[0].ms))} ms after its parent completed (scheduler interval 200 ms, dispatch grace 500 ms)`,
    );
  });

  it("claims a limited system's child under the limit: admitted, it runs here without a job; over the limit, it is held using no attempt", async () => {
    const { handler, children } = childrenAtGate('eager_limited');
    const template = testTemplate({
      identity_strategy: 'unique',
      default_dependent_system: 'eager_limited_svc',
      steps: [
        { name: 'parent', handler: 'eager_limited' },
        ...['c1', 'c2'].map((name) => ({ name, handler: 'eager_limited', depends_on: ['parent'] })),
      ],
    });
    await registerTemplate(h.pool, template);
    await configureServiceLimits(
      h.pool,
      { eager_limited_svc: { maxConcurrent: 1, rate: null, burst: null } },
      'test',
    );
    const taskId = (await h.create({ namespace: 'test', name: template.name, context: {} })).task.id;
    const ids = await stepIds(taskId);
    await h.start([handler], [], { concurrency: 4 });

    await waitFor('one child running, the other held', async () => {
      const now = Object.values(await statuses(taskId)).sort();
      return now.join() === 'complete,held,in_progress';
    });
    const running = Object.entries(await statuses(taskId)).find(([, status]) => status === 'in_progress')![0];
    // The admitted child runs here: no job was made for it.
    const queue = h.dispatcher.queue('eager_limited');
    expect(await queue.getJob(stepJobId(ids[running]!, 1))).toBeUndefined();
    const { rows: holds } = await h.pool.query(
      `SELECT reason FROM step_transitions WHERE task_id = $1 AND to_status = 'held'`,
      [taskId],
    );
    expect(holds.map((r) => r.reason)).toEqual(['concurrency']);
    children.open();

    expect(await h.waitForTask(taskId)).toBe('complete');
    const attempts = await h.attempts(taskId);
    expect(attempts.map((a) => [a.step, a.attempt]).sort()).toEqual([
      ['c1', 1],
      ['c2', 1],
      ['parent', 1],
    ]);
  });
});
