import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTaskDatabase, type TaskDatabase } from '../test/scratch-database.ts';
import {
  countPendingDeliveries,
  readBreakerStates,
  readDeliveryAttempts,
  readFinishedAttempts,
  readStepClaims,
  readTaskTransitions,
} from './fleet-metrics.ts';
import type { Pool } from './pool.ts';

// @switchyard/testing depends on this package: a scratch database migrated here instead.
let db: TaskDatabase;
let pool: Pool;
let namedTaskId: number;

beforeAll(async () => {
  db = await createTaskDatabase('switchyard_fleet_metrics', {
    application: 'fleet-metrics-test',
    poolMax: 2,
    namespace: 'metered',
    task: 'order',
    version: '2.1.0',
  });
  ({ pool, namedTaskId } = db);
});

afterAll(async () => {
  await db?.close();
});

beforeEach(async () => {
  await pool.query('TRUNCATE tasks, circuit_breakers CASCADE');
});

/** Milliseconds ago, as a timestamp. */
const ago = (ms: number) => new Date(Date.now() - ms);

async function task(): Promise<string> {
  const { rows } = await pool.query(
    `INSERT INTO tasks (named_task_id, status, identity_strategy, identity_hash, context, correlation_id)
     VALUES ($1, 'in_progress', 'unique', gen_random_uuid()::text, '{}', 'c') RETURNING id`,
    [namedTaskId],
  );
  return rows[0].id;
}

async function step(taskId: string, handler: string): Promise<string> {
  const { rows } = await pool.query(
    `INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                                 backoff_cap_ms, timeout_ms, pending_parents)
     VALUES ($1, $2, $2, 'billing', 'in_progress', 3, 100, 1000, 1000, 0) RETURNING id`,
    [taskId, handler],
  );
  return rows[0].id;
}

async function taskTransition(taskId: string, from: string | null, to: string, at: Date): Promise<number> {
  const { rows } = await pool.query(
    `INSERT INTO task_transitions (task_id, from_status, to_status, actor, created_at)
     VALUES ($1, $2, $3, 'test', $4) RETURNING id`,
    [taskId, from, to, at],
  );
  return rows[0].id;
}

async function stepTransition(taskId: string, stepId: string, from: string | null, to: string, at: Date) {
  await pool.query(
    `INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor, created_at)
     VALUES ($1, $2, 1, $3, $4, 'test', $5)`,
    [stepId, taskId, from, to, at],
  );
}

describe('history reads', () => {
  it('reads task transitions after an id, oldest first, up to the limit, with the template', async () => {
    const taskId = await task();
    const created = await taskTransition(taskId, null, 'pending', ago(60_000));
    await taskTransition(taskId, 'pending', 'in_progress', ago(50_000));
    await taskTransition(taskId, 'in_progress', 'complete', ago(40_000));

    const all = await readTaskTransitions(pool, { afterId: 0, limit: 10, settledMs: 2_000 });
    expect(all).toEqual([
      {
        id: created,
        fromStatus: null,
        toStatus: 'pending',
        namespace: 'metered',
        name: 'order',
        version: '2.1.0',
      },
      expect.objectContaining({ id: created + 1, fromStatus: 'pending', toStatus: 'in_progress' }),
      expect.objectContaining({ id: created + 2, fromStatus: 'in_progress', toStatus: 'complete' }),
    ]);
    const page = await readTaskTransitions(pool, { afterId: created, limit: 1, settledMs: 2_000 });
    expect(page.map((row) => row.toStatus)).toEqual(['in_progress']);
  });

  it('leaves out rows younger than settledMs', async () => {
    const taskId = await task();
    await taskTransition(taskId, null, 'pending', ago(10_000));
    await taskTransition(taskId, 'pending', 'in_progress', ago(0));
    const settled = await readTaskTransitions(pool, { afterId: 0, limit: 10, settledMs: 2_000 });
    expect(settled.map((row) => row.toStatus)).toEqual(['pending']);
    expect(await readTaskTransitions(pool, { afterId: 0, limit: 10, settledMs: 20_000 })).toEqual([]);
  });

  it('reads finished attempts with their step type and duration', async () => {
    const taskId = await task();
    const stepId = await step(taskId, 'charge');
    await pool.query(
      `INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, started_at,
                                  finished_at, duration_ms)
       VALUES ($1, $2, 1, 'billing', 'w', 'retryable_error', $3, $4, 1500)`,
      [stepId, taskId, ago(11_500), ago(10_000)],
    );
    expect(await readFinishedAttempts(pool, { afterId: 0, limit: 10, settledMs: 2_000 })).toEqual([
      {
        id: expect.any(Number),
        outcome: 'retryable_error',
        errorClass: null,
        dependentSystem: 'billing',
        durationMs: 1500,
        handler: 'charge',
      },
    ]);
  });

  it('reads claims with the wait since the transition before each', async () => {
    const taskId = await task();
    const stepId = await step(taskId, 'ship');
    await stepTransition(taskId, stepId, 'pending', 'enqueued', ago(30_000));
    await stepTransition(taskId, stepId, 'enqueued', 'in_progress', ago(27_500));
    await stepTransition(taskId, stepId, 'in_progress', 'waiting_retry', ago(20_000));
    await stepTransition(taskId, stepId, 'waiting_retry', 'in_progress', ago(19_000));

    const claims = await readStepClaims(pool, { afterId: 0, limit: 10, settledMs: 2_000 });
    expect(claims.map(({ handler, fromStatus }) => ({ handler, fromStatus }))).toEqual([
      { handler: 'ship', fromStatus: 'enqueued' },
      { handler: 'ship', fromStatus: 'waiting_retry' },
    ]);
    expect(claims[0]!.waitSeconds).toBeCloseTo(2.5, 1);
    expect(claims[1]!.waitSeconds).toBeCloseTo(1, 1);
    expect(claims[0]!.id).toBeLessThan(claims[1]!.id);
  });

  it("reads a root step's first claim with the wait since the step's creation, whose row is derived", async () => {
    const taskId = await task();
    const stepId = await step(taskId, 'pack');
    await pool.query(`UPDATE workflow_steps SET created_at = $2 WHERE id = $1`, [stepId, ago(40_000)]);
    await stepTransition(taskId, stepId, 'enqueued', 'in_progress', ago(36_000));

    const claims = await readStepClaims(pool, { afterId: 0, limit: 100, settledMs: 2_000 });
    const claim = claims.find((c) => c.handler === 'pack');
    expect(claim).toMatchObject({ fromStatus: 'enqueued' });
    expect(claim!.waitSeconds).toBeCloseTo(4, 1);
  });
});

describe('webhook deliveries', () => {
  async function delivery(status: string, attempts: number, held = false): Promise<string> {
    const { rows } = await pool.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_id, event_tx_id, event_position, type, status, attempts, held)
       VALUES ($1, gen_random_uuid(), 1, 1, 'task.completed', $2, $3, $4) RETURNING id`,
      [webhookId, status, attempts, held],
    );
    return rows[0].id;
  }
  async function attempt(deliveryId: string, n: number, outcome: string): Promise<void> {
    await pool.query(
      `INSERT INTO webhook_delivery_attempts (delivery_id, webhook_id, dependent_system, attempt, outcome, claimed_by,
                                              started_at, finished_at, duration_ms)
       VALUES ($1, $2::uuid, 'webhook:' || $2::text, $3, $4, 'c', $5, $5, 5)`,
      [deliveryId, webhookId, n, outcome, ago(10_000)],
    );
  }
  let webhookId: string;
  beforeEach(async () => {
    await pool.query('TRUNCATE webhooks CASCADE');
    const { rows } = await pool.query(
      `INSERT INTO webhooks (url, events, secret, created_by) VALUES ('http://r.example', '{task.completed}', 's', 't')
       RETURNING id`,
    );
    webhookId = rows[0].id;
  });

  it('reads each attempt as delivered, failed (retried) or dead (the failure that ended its delivery)', async () => {
    const retried = await delivery('delivered', 2);
    await attempt(retried, 1, 'http_error');
    await attempt(retried, 2, 'success');
    const dead = await delivery('failed', 2);
    await attempt(dead, 1, 'timeout');
    await attempt(dead, 2, 'network_error');
    const waiting = await delivery('pending', 1);
    await attempt(waiting, 1, 'http_error');

    const rows = await readDeliveryAttempts(pool, { afterId: 0, limit: 10, settledMs: 2_000 });
    expect(rows.map((row) => row.outcome)).toEqual(['failed', 'delivered', 'failed', 'dead', 'failed']);
    const page = await readDeliveryAttempts(pool, { afterId: rows[1]!.id, limit: 2, settledMs: 2_000 });
    expect(page.map((row) => row.id)).toEqual([rows[2]!.id, rows[3]!.id]);
  });

  it('counts the pending deliveries, held or waiting', async () => {
    await delivery('pending', 0);
    await delivery('pending', 1);
    await delivery('pending', 1, true);
    await delivery('delivered', 1);
    await delivery('failed', 3);
    expect(await countPendingDeliveries(pool)).toEqual({ held: 1, waiting: 2 });
  });
});

describe('readBreakerStates', () => {
  it("reads each breaker's state", async () => {
    await pool.query(
      `INSERT INTO circuit_breakers (dependent_system, state, policy) VALUES ('billing', 'open', '{}'), ('mail', 'closed', '{}')`,
    );
    const states = await readBreakerStates(pool);
    expect(states.sort((a, b) => a.dependentSystem.localeCompare(b.dependentSystem))).toEqual([
      { dependentSystem: 'billing', state: 'open' },
      { dependentSystem: 'mail', state: 'closed' },
    ]);
  });
});
