import {
  type ClaimedStep,
  type ClaimRequest,
  claimStepAttempts,
  type Pool,
  recordStepSuccesses,
  registerTemplate,
  type StepSuccess,
} from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatementBatcher } from '../src/statement-batcher.ts';
import { claimNamed, createEngineHarness, type EngineHarness, successOf, testTemplate } from './harness.ts';

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
    const batcher = new StatementBatcher((batch: ClaimRequest[]) =>
      claimStepAttempts(counting, 'worker-2', batch),
    );
    const requests = tasks.flatMap((t) =>
      Object.values(t.stepIds).map((stepId) => ({ stepId, attempt: 1, leaseMs: 30_000 })),
    );

    const claimed = await Promise.all(requests.map((request) => batcher.submit(request)));

    expect(claimed.map((step) => step?.id)).toEqual(requests.map((r) => r.stepId));
    // The first claim goes alone and at once; the 29 behind it share a statement or two.
    expect(statements).toBeLessThanOrEqual(3);
    expect(await batcher.submit(requests[0]!)).toBeNull(); // already claimed: the fence refuses
  });
});

describe('recording several successes in one statement', () => {
  // A diamond: both branches of a task can finish in the same batch.
  const diamond = testTemplate({
    identity_strategy: 'unique',
    steps: [
      { name: 'a', handler: 'batch_noop' },
      { name: 'b', handler: 'batch_noop', depends_on: ['a'] },
      { name: 'c', handler: 'batch_noop', depends_on: ['a'] },
      { name: 'd', handler: 'batch_noop', depends_on: ['b', 'c'] },
    ],
  });
  const worker = 'worker-3';

  beforeAll(async () => {
    await registerTemplate(h.pool, diamond);
  });

  const claimAll = (taskIds: string[], names: string[]) => claimNamed(h.pool, worker, taskIds, names);
  const success = (step: ClaimedStep) => successOf(step, worker, { step: step.name });

  it('makes a join ready once when both its parents finish in the batch, and completes each task once', async () => {
    const taskIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { task } = await h.create({ namespace: 'test', name: diamond.name, context: {} });
      taskIds.push(task.id);
    }
    // The third task's branch b is claimed by another worker: this worker's success for it is late.
    const lost = taskIds.pop()!;
    await recordStepSuccesses(
      h.pool,
      worker,
      (await claimAll([lost], ['a'])).map((s) => success(s)),
    );
    const lostBranch = (await claimAll([lost], ['b']))[0]!;
    await h.pool.query(`UPDATE workflow_steps SET claimed_by = 'another-worker' WHERE id = $1`, [
      lostBranch.id,
    ]);

    const roots = await recordStepSuccesses(
      h.pool,
      worker,
      (await claimAll(taskIds, ['a'])).map((s) => success(s)),
    );
    expect(roots.map((r) => r.applied)).toEqual([true, true]);
    // Each task's newly ready branches are reported with that task's own success.
    expect(roots.map((r) => r.ready.map((s) => s.taskId).sort())).toEqual(
      [...taskIds].sort().map((id) => [id, id]),
    );

    const branches = await claimAll(taskIds, ['b', 'c']);
    const joins = await recordStepSuccesses(h.pool, worker, [
      ...branches.map((s) => success(s)),
      success(lostBranch),
    ]);
    expect(joins.map((r) => r.applied)).toEqual([true, true, true, true, false]);
    expect(joins.flatMap((r) => r.ready)).toHaveLength(2); // one join per task, once
    const { rows: dSteps } = await h.pool.query(
      `SELECT s.status, s.pending_parents,
              (SELECT count(*)::int FROM step_transitions t WHERE t.step_id = s.id AND t.to_status = 'enqueued') AS enqueued
         FROM workflow_steps s WHERE s.task_id = ANY($1) AND s.name = 'd'`,
      [taskIds],
    );
    expect(dSteps).toEqual([
      { status: 'enqueued', pending_parents: 0, enqueued: 1 },
      { status: 'enqueued', pending_parents: 0, enqueued: 1 },
    ]);
    // The late success is kept as a stale attempt and changes nothing.
    const { rows: late } = await h.pool.query(
      `SELECT a.stale, s.status, s.claimed_by FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
        WHERE a.step_id = $1`,
      [lostBranch.id],
    );
    expect(late).toEqual([{ stale: true, status: 'in_progress', claimed_by: 'another-worker' }]);

    const ends = await recordStepSuccesses(
      h.pool,
      worker,
      (await claimAll(taskIds, ['d'])).map((s) => success(s)),
    );
    expect(ends.map((r) => r.task?.to)).toEqual(['complete', 'complete']);
    const { rows: tasks } = await h.pool.query(
      `SELECT t.status, (SELECT count(*)::int FROM task_transitions tt WHERE tt.task_id = t.id AND tt.to_status = 'complete') AS completions
         FROM tasks t WHERE t.id = ANY($1)`,
      [taskIds],
    );
    expect(tasks).toEqual([
      { status: 'complete', completions: 1 },
      { status: 'complete', completions: 1 },
    ]);
  });

  it('records the others of a batch when Postgres refuses one result', async () => {
    const taskIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { task } = await h.create({ namespace: 'test', name: diamond.name, context: {} });
      taskIds.push(task.id);
    }
    const roots = await claimAll(taskIds, ['a']);
    const batcher = new StatementBatcher((batch: StepSuccess[]) =>
      recordStepSuccesses(h.pool, worker, batch),
    );
    // The first goes alone; the three behind it share a statement, which the bad result fails.
    const outcomes = await Promise.allSettled(
      roots.map((step, i) =>
        batcher.submit(i === 2 ? { ...success(step), results: { text: 'nul \u0000 byte' } } : success(step)),
      ),
    );

    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const { rows } = await h.pool.query(
      `SELECT task_id, status FROM workflow_steps WHERE task_id = ANY($1) AND name = 'a'`,
      [taskIds],
    );
    const status = Object.fromEntries(rows.map((r) => [r.task_id, r.status]));
    expect(roots.map((step) => status[step.taskId])).toEqual([
      'complete',
      'complete',
      'in_progress',
      'complete',
    ]);
  });
});

describe('finding the rows of a batch however many steps wait', () => {
  /** Index names of a plan, from EXPLAIN (FORMAT JSON). */
  function indexesOf(plan: unknown): string[] {
    const found: string[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) for (const child of node) walk(child);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === 'Index Name') found.push(value as string);
          else walk(value);
        }
      }
    };
    walk(plan);
    return found;
  }

  it('claims and records by primary key, with statistics taken before 400 steps waited and then ran', async () => {
    const template = testTemplate({
      identity_strategy: 'unique',
      steps: [
        { name: 'first', handler: 'backlog_noop' },
        { name: 'second', handler: 'backlog_noop', depends_on: ['first'] },
      ],
    });
    await registerTemplate(h.pool, template);
    const create = async () =>
      (await h.create({ namespace: 'test', name: template.name, context: {} })).task.id;
    const taskId = await create();
    await h.pool.query('ANALYZE'); // almost nothing waits yet
    for (let i = 0; i < 400; i++) await create();

    const client = await h.pool.connect();
    try {
      // The plan a busy worker runs: a prepared statement switches to its generic plan after five
      // executions, and that plan does not know how many steps a batch holds.
      await client.query('SET plan_cache_mode = force_generic_plan');
      const { rows } = await client.query(
        `SELECT id FROM workflow_steps WHERE task_id = $1 AND name = 'first'`,
        [taskId],
      );
      const stepId = rows[0].id as string;
      const [claimed] = await claimStepAttempts(client, 'worker-4', [
        { stepId, attempt: 1, leaseMs: 30_000 },
      ]);
      const claimPlan = await client.query(
        `EXPLAIN (FORMAT JSON) EXECUTE switchyard_claim_steps('{${stepId}}', '{1}', '{30000}', 'worker-4')`,
      );
      // Now 400 steps run elsewhere, as on a large fleet.
      const { rows: backlog } = await client.query(
        `SELECT id FROM workflow_steps WHERE status = 'enqueued' AND name = 'first' AND id <> $1`,
        [stepId],
      );
      await claimStepAttempts(
        client,
        'worker-5',
        backlog.map((r) => ({ stepId: r.id as string, attempt: 1, leaseMs: 30_000 })),
      );
      const [recorded] = await recordStepSuccesses(client as unknown as Pool, 'worker-4', [
        {
          record: {
            stepId,
            taskId,
            attempt: 1,
            workerId: 'worker-4',
            dependentSystem: claimed!.dependentSystem,
            startedAt: claimed!.startedAt,
            finishedAt: new Date(),
            probe: false,
            fallback: false,
          },
          results: null,
        },
      ]);
      // The plan for a batch of 20 of the running steps (EXPLAIN runs nothing).
      const batch = backlog.slice(0, 20).map((r) => r.id as string);
      const array = (value: string) => `ARRAY[${batch.map(() => value).join(', ')}]`;
      const successPlan = await client.query(
        `EXPLAIN (FORMAT JSON) EXECUTE switchyard_step_successes('{${batch.join(',')}}', ${array('1')},
           ${array(`'${taskId}'::uuid`)}, ${array(`'null'::jsonb`)}, ${array(`'svc'`)}, ${array('now()')},
           ${array('now()')}, ${array('1')}, ${array('false')}, 'worker-5', ${array(`'[]'::jsonb`)},
           ${array('true')}, ${array('true')}, ARRAY['svc'], ARRAY[1], ARRAY[15000])`,
      );

      expect(recorded!.ready).toHaveLength(1);
      // A status index looks cheap to the planner when statistics say nothing waits, and then
      // every claim and record scans the whole backlog.
      for (const plan of [claimPlan, successPlan]) {
        expect(indexesOf(plan.rows[0]['QUERY PLAN']).filter((name) => name.includes('status'))).toEqual([]);
      }
    } finally {
      await client.query('RESET plan_cache_mode');
      client.release();
    }
  }, 60_000);
});
