import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTaskDatabase, type TaskDatabase } from '../test/scratch-database.ts';
import type { Pool } from './pool.ts';
import { finalizeSettledTasks, type SettledTaskCursor } from './repairs.ts';

// @switchyard/testing depends on this package: a scratch database migrated here instead.
let db: TaskDatabase;
let pool: Pool;
let namedTaskId: number;

beforeAll(async () => {
  db = await createTaskDatabase('switchyard_repairs', {
    application: 'repairs-test',
    poolMax: 3,
    namespace: 'repairs',
    task: 'scan',
    version: '1.0.0',
  });
  ({ pool, namedTaskId } = db);
});

afterAll(async () => {
  await db?.close();
});

beforeEach(async () => {
  await pool.query('TRUNCATE tasks CASCADE');
});

const HOUR = 3_600_000;
const GRACE_MS = 60_000;
const LIMIT = 20;

/** The id of the n-th task in the scan's order (ids order as their hex digits do). */
function taskId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/**
 * Running tasks `from`..`to` (in id order), each with a complete step and one in `status`,
 * both last changed `agoMs` ago.
 */
async function runningTasks(from: number, to: number, status: string, agoMs = HOUR): Promise<void> {
  const ids = Array.from({ length: to - from + 1 }, (_, i) => taskId(from + i));
  await pool.query(
    `INSERT INTO tasks (id, named_task_id, status, identity_strategy, identity_hash, context, correlation_id)
     SELECT id, $2, 'in_progress', 'unique', id::text, '{}', 'c' FROM unnest($1::uuid[]) AS id`,
    [ids, namedTaskId],
  );
  await pool.query(
    `INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                                 backoff_cap_ms, timeout_ms, pending_parents, updated_at)
     SELECT id, n.name, 'h', 'svc', n.status, 3, 100, 1000, 1000, 0, now() - $3 * interval '1 millisecond'
       FROM unnest($1::uuid[]) AS id CROSS JOIN (VALUES ('first', 'complete'), ('second', $2)) AS n(name, status)`,
    [ids, status, agoMs],
  );
}

/** Lets task n's in-flight step finish, `agoMs` ago. */
async function settle(n: number, agoMs = HOUR): Promise<void> {
  await pool.query(
    `UPDATE workflow_steps SET status = 'complete', updated_at = now() - $2 * interval '1 millisecond'
      WHERE task_id = $1`,
    [taskId(n), agoMs],
  );
}

async function statusOf(n: number): Promise<string> {
  const { rows } = await pool.query('SELECT status FROM tasks WHERE id = $1', [taskId(n)]);
  return rows[0].status;
}

/** One call of the repair: the next page after `cursor`. */
function nextPage(cursor: SettledTaskCursor) {
  return finalizeSettledTasks(pool, { limit: LIMIT, actor: 'test', graceMs: GRACE_MS, cursor });
}

/** Calls the repair with `cursor` until task `n` is finalized; returns how many calls it took. */
async function callsUntilFinalized(cursor: SettledTaskCursor, n: number, maxCalls: number): Promise<number> {
  for (let call = 1; call <= maxCalls; call++) {
    const finalized = await nextPage(cursor);
    if (finalized.some((task) => task.taskId === taskId(n))) return call;
  }
  throw new Error(`task ${n} still ${await statusOf(n)} after ${maxCalls} calls`);
}

describe('finalizeSettledTasks', () => {
  it('reaches a settled task behind a backlog larger than a page, one page per call', async () => {
    await runningTasks(1, 300, 'in_progress');
    await runningTasks(301, 301, 'complete');
    const cursor: SettledTaskCursor = { after: null };

    await nextPage(cursor);
    expect(cursor.after).toBe(taskId(LIMIT));
    // Page 1 was examined; task 301 is on page 16 (of 20 each), and the first call took one page.
    expect(await callsUntilFinalized(cursor, 301, 15)).toBe(15);
    expect(await statusOf(301)).toBe('complete');
    // The last page was short: the next call starts from the first running task again.
    expect(cursor.after).toBeNull();
  });

  it('wraps around: a task settled behind the cursor is finalized on the next pass', async () => {
    await runningTasks(1, 300, 'in_progress');
    const cursor: SettledTaskCursor = { after: null };
    for (let call = 0; call < 5; call++) await nextPage(cursor);
    expect(cursor.after).toBe(taskId(5 * LIMIT));

    await settle(7);
    // The rest of this pass (pages 6 to 15, all full, then an empty one that ends it), then
    // page 1 of the next.
    expect(await callsUntilFinalized(cursor, 7, 15)).toBe(12);
    expect(await statusOf(7)).toBe('complete');
  });

  it('leaves alone a task whose last step changed within the grace', async () => {
    await runningTasks(1, 30, 'in_progress');
    await runningTasks(31, 31, 'complete', GRACE_MS / 2);
    await runningTasks(32, 32, 'complete');
    const cursor: SettledTaskCursor = { after: null };

    // Two passes of two pages each: the task outside the grace is finalized on the first.
    const finalized = [];
    for (let call = 0; call < 4; call++) finalized.push(...(await nextPage(cursor)));

    expect(finalized).toEqual([{ taskId: taskId(32), from: 'in_progress', to: 'complete' }]);
    expect(await statusOf(31)).toBe('in_progress');
  });
});
