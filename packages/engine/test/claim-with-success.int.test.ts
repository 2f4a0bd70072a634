/**
 * A success statement given room (ChildClaimRoom) claims the children it makes ready for its
 * worker, in the update that makes them ready. These tests run the statement itself
 * (recordStepSuccesses) and check which children it takes and what it leaves for the claim that
 * judges the others, with no worker running.
 */
import {
  type ChildClaimRoom,
  type ClaimedStep,
  claimStepAttempts,
  configureServiceLimits,
  forceBreaker,
  type Pool,
  recordStepSuccesses,
  registerTemplate,
  type StepSuccess,
} from '@switchyard/db';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimNamed, createEngineHarness, type EngineHarness, successOf, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const worker = 'worker-fold';

/** `a`, then three children of one step type, `b1`..`b3`, then `d` after `b1` and `b2`. */
function template(system: string) {
  return testTemplate({
    identity_strategy: 'unique',
    steps: [
      { name: 'a', handler: `${system}_root` },
      ...['b1', 'b2', 'b3'].map((name) => ({
        name,
        handler: `${system}_child`,
        depends_on: ['a'],
        dependent_system: system,
      })),
      { name: 'd', handler: `${system}_child`, depends_on: ['b1', 'b2'], dependent_system: system },
    ],
  });
}

async function newTask(system: string): Promise<string> {
  const t = template(system);
  await registerTemplate(h.pool, t);
  return (await h.create({ namespace: 'test', name: t.name, context: {} })).task.id;
}

const claim = (taskId: string, names: string[]) => claimNamed(h.pool, worker, [taskId], names);

function success(step: ClaimedStep, continues = true): StepSuccess {
  return { ...successOf(step, worker, { from: step.name }), continues };
}

function room(system: string, n: number): ChildClaimRoom[] {
  return [{ handler: `${system}_child`, room: n, leaseMs: 30_000 }];
}

async function steps(taskId: string) {
  const { rows } = await h.pool.query(
    `SELECT name, status, attempts, claimed_by, lease_expires_at IS NOT NULL AS leased
       FROM workflow_steps WHERE task_id = $1 ORDER BY name`,
    [taskId],
  );
  return Object.fromEntries(rows.map(({ name, ...rest }) => [name, rest]));
}

describe('a success statement claiming the children it makes ready', () => {
  it('claims up to its room of each step type, each in_progress for the worker, with the audit of a claim', async () => {
    const taskId = await newTask('fold_room');
    const [a] = await claim(taskId, ['a']);
    const [result] = await recordStepSuccesses(h.pool, worker, [success(a!)], room('fold_room', 2));

    // Two of the three, in id order.
    expect(result!.claimed).toHaveLength(2);
    expect(result!.ready).toHaveLength(1);
    const claimed = result!.claimed[0]!;
    expect(claimed).toMatchObject({
      taskId,
      attempt: 1,
      fallback: false,
      probe: false,
      dependentSystem: 'fold_room',
      // The parent recorded in this very statement: its results are read from the statement.
      parentResults: { a: { from: 'a' } },
    });
    expect(claimed.startedAt).toBeInstanceOf(Date);
    const now = await steps(taskId);
    const taken = result!.claimed.map((c) => c.name);
    for (const name of taken) {
      expect(now[name]).toEqual({ status: 'in_progress', attempts: 1, claimed_by: worker, leased: true });
    }
    const left = ['b1', 'b2', 'b3'].find((name) => !taken.includes(name))!;
    expect(now[left]).toMatchObject({ status: 'enqueued', attempts: 0, claimed_by: null });
    expect(result!.ready[0]).toMatchObject({ taskId, attempt: 1 });
    // The rows a delivery's claim leaves, in order: ready, then claimed by the worker.
    const { rows } = await h.pool.query(
      `SELECT t.from_status, t.to_status, t.attempt, t.actor FROM step_transitions t
        WHERE t.step_id = $1 ORDER BY t.id`,
      [claimed.id],
    );
    expect(rows).toEqual([
      { from_status: 'pending', to_status: 'enqueued', attempt: null, actor: worker },
      { from_status: 'enqueued', to_status: 'in_progress', attempt: 1, actor: worker },
    ]);
    // What a worker gets is the same as from a delivery's claim of a sibling of the same template.
    const [sibling] = await claimStepAttempts(h.pool, worker, [
      { stepId: result!.ready[0]!.stepId, attempt: 1, leaseMs: 30_000 },
    ]);
    const comparable = ({ id, name, startedAt, ...rest }: ClaimedStep) => rest;
    expect(comparable(claimed)).toEqual(comparable(sibling!));
  });

  it('claims the join once its last parent succeeds, and nothing for a late duplicate of that success', async () => {
    const taskId = await newTask('fold_join');
    const [a] = await claim(taskId, ['a']);
    await recordStepSuccesses(h.pool, worker, [success(a!)], []);
    const [b1, b2] = await claim(taskId, ['b1', 'b2']);
    const [first] = await recordStepSuccesses(h.pool, worker, [success(b1!)], room('fold_join', 5));
    expect(first!.claimed).toEqual([]); // d still waits for b2
    const [second] = await recordStepSuccesses(h.pool, worker, [success(b2!)], room('fold_join', 5));
    expect(second!.claimed.map((c) => c.name)).toEqual(['d']);
    expect(second!.claimed[0]!.parentResults).toEqual({ b1: { from: 'b1' }, b2: { from: 'b2' } });

    const [again] = await recordStepSuccesses(h.pool, worker, [success(b2!)], room('fold_join', 5));
    expect(again).toMatchObject({ applied: false, claimed: [], ready: [] });
    expect((await steps(taskId)).d).toMatchObject({ status: 'in_progress', attempts: 1 });
  });

  it('leaves the join to the claim when its other parent was settled by a statement it waited for', async () => {
    const taskId = await newTask('fold_race');
    const [a] = await claim(taskId, ['a']);
    await recordStepSuccesses(h.pool, worker, [success(a!)], []);
    const [b1, b2] = await claim(taskId, ['b1', 'b2']);
    // b1's success, in a transaction left open: it holds d's row and has made d's count 1.
    const holder = await h.pool.connect();
    try {
      await holder.query('BEGIN');
      await recordStepSuccesses(holder as unknown as Pool, worker, [success(b1!)], []);
      const raced = recordStepSuccesses(h.pool, worker, [success(b2!)], room('fold_race', 5));
      await waitFor('the success statement of b2 waiting for d', async () => {
        const { rows } = await h.pool.query(
          `SELECT 1 FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`,
          [(await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid],
        );
        return rows.length > 0;
      });
      await holder.query('COMMIT');
      const [result] = await raced;
      // The statement made d ready with b1's count as committed, but sees b1 as it was when it
      // started (in progress, no results): d is not claimed with b1's results missing.
      expect(result!.claimed).toEqual([]);
      const d = result!.ready.find((step) => step.taskId === taskId)!;
      expect(d).toBeDefined();
      const [claimed] = await claimStepAttempts(h.pool, worker, [
        { stepId: d.stepId, attempt: d.attempt, leaseMs: 30_000 },
      ]);
      expect(claimed!.name).toBe('d');
      expect(claimed!.parentResults).toEqual({ b1: { from: 'b1' }, b2: { from: 'b2' } });
    } finally {
      holder.release();
    }
  });

  it('claims nothing for a success that does not continue, nor without room', async () => {
    const taskId = await newTask('fold_none');
    const [a] = await claim(taskId, ['a']);
    const [result] = await recordStepSuccesses(h.pool, worker, [success(a!, false)], room('fold_none', 3));
    expect(result!.claimed).toEqual([]);
    expect(result!.ready).toHaveLength(3);

    const other = await newTask('fold_none');
    const [a2] = await claim(other, ['a']);
    const [roomless] = await recordStepSuccesses(h.pool, worker, [success(a2!)], []);
    expect(roomless!.claimed).toEqual([]);
    expect(roomless!.ready).toHaveLength(3);
  });

  it('leaves the children of a service its breaker blocks, or under a limit, to the claim that judges them', async () => {
    const blocked = await newTask('fold_blocked');
    await forceBreaker(h.pool, {
      dependentSystem: 'fold_blocked',
      action: 'open',
      actor: 'test',
      reason: 'test',
    });
    const [a] = await claim(blocked, ['a']);
    const [held] = await recordStepSuccesses(h.pool, worker, [success(a!)], room('fold_blocked', 3));
    expect(held!.claimed).toEqual([]);
    expect(held!.ready).toHaveLength(3);

    const limited = await newTask('fold_limited');
    await configureServiceLimits(
      h.pool,
      { fold_limited: { maxConcurrent: 5, rate: null, burst: null } },
      'test',
    );
    const [a2] = await claim(limited, ['a']);
    const [underLimit] = await recordStepSuccesses(h.pool, worker, [success(a2!)], room('fold_limited', 3));
    expect(underLimit!.claimed).toEqual([]);
    expect(underLimit!.ready).toHaveLength(3);
    for (const task of [blocked, limited]) {
      for (const name of ['b1', 'b2', 'b3'])
        expect((await steps(task))[name]).toMatchObject({ status: 'enqueued' });
    }
  });
});
