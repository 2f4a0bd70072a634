import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, recordedTemplate, sleep, startFleet, waitFor } from './harness.ts';

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
});
afterEach(() => fleet.close());

async function completedCount(ids: string[]): Promise<number> {
  const { rows } = await fleet.pool.query(
    `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
    [ids],
  );
  return rows[0].n;
}

/** Steps the database says are queued (ready or waiting for a retry) that have no job in Redis. */
async function stepsWithoutJob(): Promise<number> {
  const { rows } = await fleet.pool.query(
    `SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt
       FROM workflow_steps WHERE status IN ('enqueued', 'waiting_retry')`,
  );
  return (await fleet.dispatcher.findMissing(rows)).length;
}

function expectEachStepCompletedOnce(
  effects: { task_id: string; step_name: string }[],
  tasks: number,
  steps: number,
) {
  const perStep = new Map<string, number>();
  for (const e of effects)
    perStep.set(`${e.task_id}/${e.step_name}`, (perStep.get(`${e.task_id}/${e.step_name}`) ?? 0) + 1);
  expect(perStep.size).toBe(tasks * steps);
  expect([...perStep.values()].filter((n) => n !== 1)).toEqual([]);
}

describe('losing Redis', () => {
  it('FLUSHALL mid-run of 200 tasks: every task completes and no handler completes twice', async () => {
    fleet.spawnWorker({ SWITCHYARD_CONCURRENCY: '20' });
    const ids = await fleet.createTasks(recordedTemplate('flushed', 3), 200, { sleepMs: 20 });
    await waitFor('a third of the tasks to complete', async () => (await completedCount(ids)) >= 60, 60_000);

    const before = fleet.scheduler.repairs().job_missing;
    await fleet.redis.flushall();
    const flushedAt = Date.now();
    await waitFor(
      'every lost step to be back in a queue',
      async () => (await stepsWithoutJob()) === 0,
      30_000,
    );
    const backAfterMs = Date.now() - flushedAt;
    // The scheduler adds a sweep's repairs to its totals when the whole sweep ends, which can be
    // after the re-dispatched jobs are already visible.
    const repaired = await waitFor(
      'the scheduler to count its repairs',
      async () => fleet.scheduler.repairs().job_missing - before,
      5_000,
    );
    console.info(
      `[measure] FLUSHALL lost ${repaired} queued steps; all back in a queue ${backAfterMs} ms later`,
    );
    expect(repaired).toBeGreaterThan(0);
    await fleet.waitForTasks(ids, 90_000);

    expectEachStepCompletedOnce(await fleet.sideEffects('completed'), 200, 3);
  });

  it('Redis killed and restarted mid-run: the fleet recovers by itself', async () => {
    fleet.spawnWorker({ SWITCHYARD_CONCURRENCY: '10' });
    const ids = await fleet.createTasks(recordedTemplate('restarted', 2), 60, { sleepMs: 20 });
    await waitFor('some tasks to complete', async () => (await completedCount(ids)) >= 10, 60_000);

    await fleet.redisServer.kill();
    await sleep(1_000);
    await fleet.redisServer.restart();
    await fleet.waitForTasks(ids, 90_000);

    expectEachStepCompletedOnce(await fleet.sideEffects('completed'), 60, 2);
  });
});
