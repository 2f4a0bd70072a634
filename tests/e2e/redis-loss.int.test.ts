import { defineTemplate, resolveBreakerPolicy } from '@switchyard/core';
import { configureBreaker, registerTemplate } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import type { StepDispatch } from '@switchyard/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, recordedTemplate, sleep, startFleet, waitFor } from './harness.ts';

// Generous deadlines: on a loaded machine these waits get slower, and only a wait that never
// ends is a failure. What the recovery took is printed, not asserted.
const DEADLINE_MS = 120_000;

// These tests are about Redis, not leases: a lease and step timeout far longer than a loaded
// machine's stalls keep a slow handler from being retried and completing twice.
const WORKER_ENV = { SWITCHYARD_LEASE_MS: '30000' };
const STEP_TIMEOUT_MS = 30_000;

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
}, DEADLINE_MS);
afterEach(() => fleet.close(), DEADLINE_MS);

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

/**
 * Of `lost`, the steps still waiting in Postgres for the same attempt (enqueued, or a retry)
 * with no job in Redis. A step that ran, or whose job is back, is no longer lost.
 */
async function stillLost(lost: StepDispatch[]): Promise<StepDispatch[]> {
  const { rows } = await fleet.pool.query(
    `SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt
       FROM workflow_steps
      WHERE id = ANY($1) AND status IN ('enqueued', 'waiting_retry')`,
    [lost.map((step) => step.stepId)],
  );
  const attemptOf = new Map(lost.map((step) => [step.stepId, step.attempt]));
  return fleet.dispatcher.findMissing(rows.filter((row) => attemptOf.get(row.stepId) === row.attempt));
}

/** Whether each of `steps` still waiting has been due (enqueued, or its retry) for over `graceMs`. */
async function allDueSince(steps: StepDispatch[], graceMs: number): Promise<boolean> {
  const { rows } = await fleet.pool.query(
    `SELECT count(*)::int AS n FROM workflow_steps
      WHERE id = ANY($1) AND status IN ('enqueued', 'waiting_retry')
        AND (CASE WHEN status = 'enqueued' THEN enqueued_at ELSE next_attempt_at END)
            >= clock_timestamp() - $2 * interval '1 millisecond'`,
    [steps.map((step) => step.stepId), graceMs],
  );
  return rows[0].n === 0;
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
  it('FLUSHALL mid-run of 200 tasks: every task completes and no handler completes twice', {
    timeout: 4 * DEADLINE_MS,
  }, async () => {
    fleet.spawnWorker({ ...WORKER_ENV, SWITCHYARD_CONCURRENCY: '20' });
    const ids = await fleet.createTasks(recordedTemplate('flushed', 3, STEP_TIMEOUT_MS), 200, {
      sleepMs: 20,
    });
    await waitFor(
      'a third of the tasks to complete',
      async () => (await completedCount(ids)) >= 60,
      DEADLINE_MS,
    );

    const before = fleet.scheduler.repairs().job_missing;
    await fleet.redis.flushall();
    const flushedAt = Date.now();
    await waitFor(
      'every lost step to be back in a queue',
      async () => (await stepsWithoutJob()) === 0,
      DEADLINE_MS,
    );
    const backAfterMs = Date.now() - flushedAt;
    // The scheduler adds a sweep's repairs to its totals when the whole sweep ends, which can be
    // after the re-dispatched jobs are already visible.
    const repaired = await waitFor(
      'the scheduler to count its repairs',
      async () => fleet.scheduler.repairs().job_missing - before,
      DEADLINE_MS,
    );
    console.info(
      `[measure] FLUSHALL lost ${repaired} queued steps; all back in a queue ${backAfterMs} ms later`,
    );
    expect(repaired).toBeGreaterThan(0);
    await fleet.waitForTasks(ids, DEADLINE_MS);

    expectEachStepCompletedOnce(await fleet.sideEffects('completed'), 200, 3);
  });

  it('FLUSHALL with a steady stream of new tasks: every lost job is back while the stream goes on', {
    timeout: 4 * DEADLINE_MS,
  }, async () => {
    // Every step fails its first attempt and retries 1 s later, so the queue always holds young
    // jobs (new steps, retries not yet due) beside the ones the flush loses.
    const template = defineTemplate({
      namespace: 'e2e',
      name: 'streamed',
      version: '1.0.0',
      default_dependent_system: 'fixture',
      identity_strategy: 'unique',
      retry: { max_attempts: 3, backoff_base_ms: 1_000, backoff_cap_ms: 1_000, jitter: false },
      steps: [
        { name: 's1', handler: 'recorded', timeout_ms: STEP_TIMEOUT_MS },
        { name: 's2', handler: 'recorded', timeout_ms: STEP_TIMEOUT_MS, depends_on: ['s1'] },
      ],
    });
    await registerTemplate(fleet.pool, template);
    // Half the calls fail on purpose: the breaker must not hold the stream.
    await configureBreaker(
      fleet.pool,
      'fixture',
      resolveBreakerPolicy({
        failure_rate_threshold: 1,
        consecutive_failures: 1_000_000,
        min_calls: 1_000_000,
      }),
    );
    fleet.spawnWorker({ ...WORKER_ENV, SWITCHYARD_CONCURRENCY: '10' });
    const ids: string[] = [];
    let flushedAt = 0;
    let streamEndedAt = 0;
    let streaming = true;
    // The stream goes on for up to a minute after the flush: a repair that waits for the queue to
    // drain shows as lost jobs that come back only when it ends.
    const stream = (async () => {
      while (streaming && (flushedAt === 0 || Date.now() - flushedAt < 60_000)) {
        const { task } = await createTask(
          { pool: fleet.pool, dispatcher: fleet.dispatcher },
          { namespace: 'e2e', name: 'streamed', context: { failFirstAttempt: true } },
        );
        ids.push(task.id);
        await sleep(25);
      }
      streamEndedAt = Date.now();
    })();
    try {
      await waitFor('the stream to reach its steady state', async () => ids.length >= 120, DEADLINE_MS);
      await waitFor('retries to be waiting', async () => (await stepsWithoutJob()) === 0, DEADLINE_MS);

      await fleet.redis.flushall();
      flushedAt = Date.now();
      const lostAt = ids.length;
      const { rows } = await fleet.pool.query(
        `SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt
           FROM workflow_steps WHERE status IN ('enqueued', 'waiting_retry')`,
      );
      const lost = await fleet.dispatcher.findMissing(rows);
      const back = waitFor(
        'every lost job to be back',
        async () => (await stillLost(lost)).length === 0 && Date.now(),
        DEADLINE_MS,
      );
      // Not a clock bound: once every lost step has been due for longer than the grace, one more
      // sweep must have brought each back, however busy the queue and however slow the machine.
      await waitFor(
        'every lost step to be due for longer than the grace',
        () => allDueSince(lost, 500),
        DEADLINE_MS,
      );
      await fleet.scheduler.sweep();
      expect(await stillLost(lost)).toEqual([]);
      const backAfterMs = (await back) - flushedAt;
      const stillStreaming = streamEndedAt === 0;
      console.info(
        `[measure] FLUSHALL with a steady stream of new tasks (one per 25 ms, each step retrying 1 s after its first attempt) lost ${lost.length} jobs; every one was back in a queue or running ${backAfterMs} ms later, ${stillStreaming ? 'with the stream still running' : `${streamEndedAt - flushedAt} ms after the flush the stream had ended`} (${ids.length - lostAt} tasks created since the flush)`,
      );
      expect(lost.length).toBeGreaterThan(0);
      // The repair did not wait for the stream to stop.
      expect(stillStreaming).toBe(true);
    } finally {
      streaming = false;
      await stream;
    }
    await fleet.waitForTasks(ids, DEADLINE_MS);
    expectEachStepCompletedOnce(await fleet.sideEffects('completed'), ids.length, 2);
  });

  it('Redis killed and restarted mid-run: the fleet recovers by itself', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    fleet.spawnWorker({ ...WORKER_ENV, SWITCHYARD_CONCURRENCY: '10' });
    const ids = await fleet.createTasks(recordedTemplate('restarted', 2, STEP_TIMEOUT_MS), 60, {
      sleepMs: 20,
    });
    await waitFor('some tasks to complete', async () => (await completedCount(ids)) >= 10, DEADLINE_MS);

    await fleet.redisServer.kill();
    await sleep(1_000);
    await fleet.redisServer.restart();
    await fleet.waitForTasks(ids, DEADLINE_MS);

    expectEachStepCompletedOnce(await fleet.sideEffects('completed'), 60, 2);
  });
});
