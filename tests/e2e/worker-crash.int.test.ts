import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, recordedTemplate, startFleet, waitFor } from './harness.ts';

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
});
afterEach(() => fleet.close());

async function attemptsOf(taskId: string) {
  const { rows } = await fleet.pool.query(
    `SELECT attempt, outcome, worker_id, started_at, finished_at FROM step_attempts WHERE task_id = $1 ORDER BY attempt`,
    [taskId],
  );
  return rows;
}

describe('a worker that dies or is stopped mid-step', () => {
  it('SIGKILL mid-step: the step runs again on another worker after the lease and the task completes', async () => {
    const doomed = fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'doomed' });
    const [taskId] = await fleet.createTasks(recordedTemplate('killed'), 1, { slowFirstAttemptMs: 60_000 });
    await waitFor(
      'the first attempt to start',
      async () => (await fleet.sideEffects('started')).length === 1,
    );

    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await doomed.exited;
    fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'survivor' });
    await fleet.waitForTasks([taskId!], 30_000);

    const attempts = await attemptsOf(taskId!);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.worker_id])).toEqual([
      [1, 'lease_expired', 'doomed'],
      [2, 'success', 'survivor'],
    ]);
    const rerunAfterMs = attempts[1].started_at.getTime() - killedAt;
    console.info(
      `[measure] step re-ran ${rerunAfterMs} ms after its worker was killed (lease 1500 ms, step timeout 2000 ms)`,
    );
    // The lease is never shorter than the step's timeout: no re-run before attempt 1 would have timed out.
    expect(attempts[1].started_at.getTime() - attempts[0].started_at.getTime()).toBeGreaterThanOrEqual(2_000);
    expect((await fleet.sideEffects('completed')).map((e) => e.attempt)).toEqual([2]);
  });

  it('SIGTERM mid-step: the worker hands the step back, exits within its deadline, and another takes it at once', async () => {
    const stopping = fleet.spawnWorker({
      SWITCHYARD_WORKER_ID: 'stopping',
      SWITCHYARD_SHUTDOWN_GRACE_MS: '500',
      SWITCHYARD_LEASE_MS: '30000',
    });
    const [taskId] = await fleet.createTasks(recordedTemplate('terminated', 1, 10_000), 1, {
      slowFirstAttemptMs: 60_000,
    });
    await waitFor(
      'the first attempt to start',
      async () => (await fleet.sideEffects('started')).length === 1,
    );
    const taker = fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'taker', LOG_LEVEL: 'info' });
    // Started before the signal, so the bound below measures the hand-back, not a process start
    // on a busy machine.
    await waitFor('the taker to start', async () => taker.output().includes('worker started'), 30_000);

    const signalledAt = Date.now();
    stopping.child.kill('SIGTERM');
    const code = await stopping.exited;
    const exitedAfterMs = Date.now() - signalledAt;
    await fleet.waitForTasks([taskId!], 20_000);

    console.info(`[measure] worker exited ${exitedAfterMs} ms after SIGTERM (grace 500 ms)`);
    expect(code).toBe(0);
    expect(exitedAfterMs).toBeLessThan(5_000);
    const attempts = await attemptsOf(taskId!);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.worker_id])).toEqual([
      [1, 'aborted', 'stopping'],
      [2, 'success', 'taker'],
    ]);
    // Handed back, not expired: the next attempt started long before the 30 s lease would end.
    expect(attempts[1].started_at.getTime() - signalledAt).toBeLessThan(10_000);
    const { rows } = await fleet.pool.query(
      'SELECT uncounted_attempts FROM workflow_steps WHERE task_id = $1',
      [taskId],
    );
    expect(rows[0].uncounted_attempts).toBe(1);
  });
});
