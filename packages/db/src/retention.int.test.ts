import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../test/scratch-database.ts';
import { listBreakers } from './breaker-views.ts';
import { applyMigrations } from './migrator.ts';
import { createPool, type Pool } from './pool.ts';
import { pruneFinishedTasks } from './retention.ts';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

// @switchyard/testing depends on this package: a scratch database migrated here instead.
let scratch: ScratchDatabase;
let db: { pool: Pool };
let namedTaskId: number;

beforeAll(async () => {
  scratch = await createScratchDatabase('switchyard_retention');
  await applyMigrations(scratch.url);
  db = { pool: createPool(scratch.url, { max: 3, application: 'retention-test' }) };
  const ns = await db.pool.query(`INSERT INTO namespaces (name) VALUES ('retention') RETURNING id`);
  const nt = await db.pool.query(
    `INSERT INTO named_tasks (namespace_id, name, version, definition, content_hash)
     VALUES ($1, 'aged', '1.0.0', '{}', 'x') RETURNING id`,
    [ns.rows[0].id],
  );
  namedTaskId = nt.rows[0].id;
});

afterAll(async () => {
  await db?.pool.end();
  await scratch?.drop();
});

beforeEach(async () => {
  await db.pool.query('TRUNCATE tasks, circuit_breakers CASCADE');
});

type Attempt = { system: string; agoMs: number; outcome?: string };

/** A task finished `ageMs` ago with one step per attempt, and transition rows on both levels. */
async function agedTask(status: string, ageMs: number, attempts: Attempt[] = []): Promise<string> {
  const { rows } = await db.pool.query(
    `INSERT INTO tasks (named_task_id, status, identity_strategy, identity_hash, context, correlation_id,
                        created_at, updated_at, completed_at)
     VALUES ($1, $2, 'unique', gen_random_uuid()::text, '{}', 'c', now() - $3 * interval '1 millisecond',
             now() - $3 * interval '1 millisecond', now() - $3 * interval '1 millisecond')
     RETURNING id`,
    [namedTaskId, status, ageMs],
  );
  const taskId = rows[0].id as string;
  await db.pool.query(
    `INSERT INTO task_transitions (task_id, from_status, to_status, actor) VALUES ($1, 'in_progress', $2, 'test')`,
    [taskId, status],
  );
  for (const [i, attempt] of attempts.entries()) {
    const step = await db.pool.query(
      `INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                                   backoff_cap_ms, timeout_ms, pending_parents)
       VALUES ($1, $2, 'h', $3, 'complete', 3, 100, 1000, 1000, 0) RETURNING id`,
      [taskId, `step_${i}`, attempt.system],
    );
    const stepId = step.rows[0].id as string;
    await db.pool.query(
      `INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, started_at,
                                  finished_at, duration_ms)
       VALUES ($1, $2, 1, $3, 'w', $4, now() - $5 * interval '1 millisecond', now() - $5 * interval '1 millisecond', 1)`,
      [stepId, taskId, attempt.system, attempt.outcome ?? 'success', attempt.agoMs],
    );
    await db.pool.query(
      `INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
       VALUES ($1, $2, 1, 'in_progress', 'complete', 'test')`,
      [stepId, taskId],
    );
  }
  return taskId;
}

async function remaining(table: string): Promise<number> {
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0].n;
}

async function existing(ids: string[]): Promise<string[]> {
  const { rows } = await db.pool.query('SELECT id FROM tasks WHERE id = ANY($1::uuid[])', [ids]);
  return ids.filter((id) => rows.some((r) => r.id === id));
}

const OPTIONS = { olderThanMs: 7 * DAY, breakerWindowMs: 60 * MINUTE, keepNewestPerSystem: 3 };

describe('pruneFinishedTasks', () => {
  it('deletes old complete and cancelled tasks with all their history, and nothing else', async () => {
    const oldComplete = await agedTask('complete', 10 * DAY, [{ system: 'user_service', agoMs: 10 * DAY }]);
    const oldCancelled = await agedTask('cancelled', 9 * DAY);
    const oldError = await agedTask('error', 30 * DAY, [{ system: 'user_service', agoMs: 30 * DAY }]);
    const recent = await agedTask('complete', 1 * DAY, [{ system: 'user_service', agoMs: 1 * DAY }]);

    expect(await pruneFinishedTasks(db.pool, OPTIONS)).toEqual({
      deletedTasks: 2,
      deletedEvents: 0,
      deletedDeliveries: 0,
      batches: 1,
    });

    expect(await existing([oldComplete, oldCancelled, oldError, recent])).toEqual([oldError, recent]);
    for (const table of ['workflow_steps', 'step_attempts', 'step_transitions'])
      expect(await remaining(table)).toBe(2);
    expect(await remaining('task_transitions')).toBe(2);
  });

  it('keeps an old task whose attempt finished inside the breaker window (a late, stale result)', async () => {
    const late = await agedTask('cancelled', 10 * DAY, [{ system: 'user_service', agoMs: 10 * MINUTE }]);
    const done = await agedTask('cancelled', 10 * DAY, [{ system: 'user_service', agoMs: 2 * 60 * MINUTE }]);
    await pruneFinishedTasks(db.pool, OPTIONS);
    expect(await existing([late, done])).toEqual([late]);
  });

  it('keeps what the breakers read: the newest calls per system and the evidence since an open breaker tripped', async () => {
    await db.pool.query(
      `INSERT INTO circuit_breakers (dependent_system, state, since, policy) VALUES
         ('billing_service', 'closed', now() - interval '60 days', '{}'),
         ('notification_service', 'open', now() - interval '20 days', '{}')`,
    );
    const billing = [];
    for (const days of [10, 11, 12, 13, 14]) {
      billing.push(
        await agedTask('complete', days * DAY, [
          { system: 'billing_service', agoMs: days * DAY, outcome: 'retryable_error' },
        ]),
      );
    }
    const sinceTrip = [];
    for (const days of [15, 16, 17, 18, 19]) {
      sinceTrip.push(
        await agedTask('complete', days * DAY, [{ system: 'notification_service', agoMs: days * DAY }]),
      );
    }
    const beforeTrip = await agedTask('complete', 25 * DAY, [
      { system: 'notification_service', agoMs: 25 * DAY },
    ]);
    const newestBefore = await newestAttempts('billing_service', 3);
    const breakersBefore = await listBreakers(db.pool);

    const result = await pruneFinishedTasks(db.pool, OPTIONS);

    expect(result.deletedTasks).toBe(3);
    // The three newest billing calls (a run of consecutive failures) survive; the two older go.
    expect(await existing(billing)).toEqual(billing.slice(0, 3));
    expect(await newestAttempts('billing_service', 3)).toEqual(newestBefore);
    // Every attempt since the open breaker's trip survives, more than keepNewestPerSystem of them.
    expect(await existing(sinceTrip)).toEqual(sinceTrip);
    expect(await existing([beforeTrip])).toEqual([]);
    expect(await listBreakers(db.pool)).toEqual(breakersBefore);
  });

  it('works in batches and stops after maxBatches', async () => {
    for (let i = 0; i < 5; i++)
      await agedTask('complete', (10 + i) * DAY, [{ system: 'user_service', agoMs: 10 * DAY }]);
    expect(
      await pruneFinishedTasks(db.pool, { ...OPTIONS, keepNewestPerSystem: 0, batchSize: 2, maxBatches: 2 }),
    ).toEqual({
      deletedTasks: 4,
      deletedEvents: 0,
      deletedDeliveries: 0,
      batches: 2,
    });
    expect(await remaining('tasks')).toBe(1);
    expect(await pruneFinishedTasks(db.pool, { ...OPTIONS, batchSize: 2 })).toEqual({
      deletedTasks: 1,
      deletedEvents: 0,
      deletedDeliveries: 0,
      batches: 1,
    });
    expect(await remaining('tasks')).toBe(0);
  });

  it('deletes events older than the retention, oldest first, batch by batch, whatever their task', async () => {
    await db.pool.query('DELETE FROM events');
    await db.pool.query(
      `INSERT INTO events (type, occurred_at, data)
       SELECT 'user.old', now() - (10 + i) * interval '1 day', '{}'::jsonb FROM generate_series(1, 5) i
       UNION ALL SELECT 'user.recent', now() - interval '1 day', '{}'::jsonb`,
    );
    const first = await pruneFinishedTasks(db.pool, { ...OPTIONS, batchSize: 2, maxBatches: 2 });
    expect(first.deletedEvents).toBe(4);
    const second = await pruneFinishedTasks(db.pool, { ...OPTIONS, batchSize: 2 });
    expect(second.deletedEvents).toBe(1);
    const { rows } = await db.pool.query('SELECT type FROM events');
    expect(rows).toEqual([{ type: 'user.recent' }]);
  });

  it('deletes webhook deliveries that ended long ago with their attempts, and keeps the events pending ones wait for', async () => {
    await db.pool.query('DELETE FROM events');
    const { rows: hooks } = await db.pool.query(
      `INSERT INTO webhooks (url, events, secret, created_by) VALUES ('http://localhost/h', '{task.completed}', 'whsec_x', 't')
       RETURNING id`,
    );
    const { rows: events } = await db.pool.query(
      `INSERT INTO events (type, occurred_at, data)
       SELECT 'task.completed', now() - interval '10 days', '{}'::jsonb FROM generate_series(1, 4)
       RETURNING id, tx_id, position`,
    );
    const ages = ['10 days', '10 days', '1 day', '10 days'];
    const statuses = ['delivered', 'failed', 'delivered', 'pending'];
    for (const [i, event] of events.entries()) {
      const { rows } = await db.pool.query(
        `INSERT INTO webhook_deliveries (webhook_id, event_id, event_tx_id, event_position, type, status, updated_at)
         VALUES ($1, $2, $3, $4, 'task.completed', $5, now() - $6::interval) RETURNING id`,
        [hooks[0].id, event.id, event.tx_id, event.position, statuses[i], ages[i]],
      );
      await db.pool.query(
        `INSERT INTO webhook_delivery_attempts (delivery_id, webhook_id, dependent_system, attempt, outcome, claimed_by,
                                                started_at, finished_at, duration_ms)
         VALUES ($1, $2::uuid, 'webhook:' || $2::text, 1, 'success', 'c', now() - $3::interval, now() - $3::interval, 1)`,
        [rows[0].id, hooks[0].id, ages[i]],
      );
    }
    const result = await pruneFinishedTasks(db.pool, OPTIONS);
    expect(result).toMatchObject({ deletedEvents: 3, deletedDeliveries: 2 });
    const left = await db.pool.query('SELECT status FROM webhook_deliveries ORDER BY id');
    expect(left.rows.map((r) => r.status)).toEqual(['delivered', 'pending']);
    expect(await remaining('webhook_delivery_attempts')).toBe(2);
    // The pending delivery's event stays, so it can still be sent.
    const kept = await db.pool.query('SELECT id FROM events');
    expect(kept.rows.map((r) => r.id)).toEqual([events[3].id]);
    await db.pool.query('DELETE FROM webhooks');
    await db.pool.query('DELETE FROM events');
  });

  it('skips a task another transaction holds, and deletes it on a later run', async () => {
    const held = await agedTask('complete', 10 * DAY);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE', [held]);
      expect(await pruneFinishedTasks(db.pool, OPTIONS)).toEqual({
        deletedTasks: 0,
        deletedEvents: 0,
        deletedDeliveries: 0,
        batches: 1,
      });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await pruneFinishedTasks(db.pool, OPTIONS)).toEqual({
      deletedTasks: 1,
      deletedEvents: 0,
      deletedDeliveries: 0,
      batches: 1,
    });
  });
});

async function newestAttempts(system: string, n: number): Promise<string[]> {
  const { rows } = await db.pool.query(
    'SELECT id::text FROM step_attempts WHERE dependent_system = $1 ORDER BY finished_at DESC LIMIT $2',
    [system, n],
  );
  return rows.map((r) => r.id);
}
