import { randomUUID } from 'node:crypto';
import type { StoredEvent } from '@switchyard/db';
import { createPool, type Pool, type Queryable } from '@switchyard/db';
import { createLogger } from '@switchyard/logger';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventTail } from '../src/event-tail.ts';

let database: TestDatabase;
let pool: Pool;
beforeAll(async () => {
  database = await createTestDatabase();
  pool = createPool(database.url, { max: 4 });
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

const logger = createLogger({ name: 'event-tail-test', level: 'silent' });

/** The pool, counting the queries it runs and the most that ran at once. */
function countingPool() {
  const stats = { queries: 0, inFlight: 0, maxInFlight: 0 };
  return {
    stats,
    db: {
      query: async (text: string, values?: unknown[]) => {
        stats.queries += 1;
        stats.inFlight += 1;
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
        try {
          return await pool.query(text, values);
        } finally {
          stats.inFlight -= 1;
        }
      },
    } as unknown as Queryable,
  };
}

const publish = (taskId: string, type: string) =>
  pool.query(`INSERT INTO events (type, namespace, task_id, data) VALUES ($1, 'shop', $2, '{}')`, [
    type,
    taskId,
  ]);

async function until(condition: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the shared tail of the event log', () => {
  it('polls once for any number of streams, fans out by task, and stops with the last stream', async () => {
    const { db, stats } = countingPool();
    const tail = createEventTail({ pool: db, logger, pollMs: 20 });
    expect(tail.polling()).toBe(false);
    const tasks = Array.from({ length: 40 }, () => randomUUID());

    const got = new Map<string, StoredEvent[]>(tasks.map((id) => [id, []]));
    const leave = tasks.map((id) => tail.subscribe(id, (event) => got.get(id)!.push(event)));
    expect(tail.polling()).toBe(true);
    // The loop reads the log's end first: events committed before that read are not the streams'
    // to get from the tail (a stream reads its past from the log). Publish once it has read it.
    await until(() => stats.queries >= 2);
    for (const id of tasks) {
      await publish(id, 'user.first');
      await publish(id, 'user.second');
    }
    await until(() => [...got.values()].every((events) => events.length === 2));
    for (const [id, events] of got) {
      expect(events.map((e) => [e.taskId, e.type])).toEqual([
        [id, 'user.first'],
        [id, 'user.second'],
      ]);
    }
    // One loop: never two reads at once, however many streams listen.
    expect(stats.maxInFlight).toBe(1);

    for (const off of leave.slice(1)) off();
    expect(tail.polling()).toBe(true);
    leave[0]!();
    expect(tail.size()).toBe(0);
    await until(() => !tail.polling());
    const after = stats.queries;
    // A new stream starts it again, at the log's settled end.
    const late: StoredEvent[] = [];
    const off = tail.subscribe(tasks[0]!, (event) => late.push(event));
    // Again, publish once the loop has read the log's end.
    await until(() => stats.queries >= after + 2);
    await publish(tasks[0]!, 'user.third');
    // (It may also bring events that settled just before it started: a stream skips those by cursor.)
    await until(() => late.some((e) => e.type === 'user.third'));
    expect(late.at(-1)!.type).toBe('user.third');
    expect(stats.queries).toBeGreaterThan(after);
    off();
    await tail.close();
    expect(tail.polling()).toBe(false);
  });
});
