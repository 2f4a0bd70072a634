import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, recordedTemplate, startFleet, waitFor } from './harness.ts';

// Generous deadlines: on a loaded machine a worker process takes many seconds to start, and only
// a wait that never ends is a failure. What recovery took is printed, not asserted.
const DEADLINE_MS = 120_000;

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
}, DEADLINE_MS);
afterEach(() => fleet.close(), DEADLINE_MS);

async function attemptsOf(taskId: string) {
  const { rows } = await fleet.pool.query(
    `SELECT attempt, outcome, worker_id, started_at, finished_at FROM step_attempts WHERE task_id = $1 ORDER BY attempt`,
    [taskId],
  );
  return rows;
}

describe('a worker that dies or is stopped mid-step', () => {
  it('SIGKILL mid-step: the step runs again on another worker after the lease and the task completes', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    const doomed = fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'doomed' });
    // The kill must land before the attempt's own timeout would end it: 5 s leaves a loaded
    // machine time to notice the start and send the signal.
    const [taskId] = await fleet.createTasks(recordedTemplate('killed', 1, 5_000), 1, {
      slowFirstAttemptMs: 60_000,
    });
    await waitFor(
      'the first attempt to start',
      async () => (await fleet.sideEffects('started')).length === 1,
      DEADLINE_MS,
    );

    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await doomed.exited;
    fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'survivor' });
    await fleet.waitForTasks([taskId!], DEADLINE_MS);

    const attempts = await attemptsOf(taskId!);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.worker_id])).toEqual([
      [1, 'lease_expired', 'doomed'],
      [2, 'success', 'survivor'],
    ]);
    const rerunAfterMs = attempts[1].started_at.getTime() - killedAt;
    console.info(
      `[measure] step re-ran ${rerunAfterMs} ms after its worker was killed (lease 1500 ms, step timeout 5000 ms)`,
    );
    // The lease is never shorter than the step's timeout: no re-run before attempt 1 would have timed out.
    expect(attempts[1].started_at.getTime() - attempts[0].started_at.getTime()).toBeGreaterThanOrEqual(5_000);
    expect((await fleet.sideEffects('completed')).map((e) => e.attempt)).toEqual([2]);
  });

  it('SIGTERM mid-step: the worker hands the step back, exits within its deadline, and another takes it at once', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    const stopping = fleet.spawnWorker({
      SWITCHYARD_WORKER_ID: 'stopping',
      SWITCHYARD_SHUTDOWN_GRACE_MS: '500',
      SWITCHYARD_LEASE_MS: '30000',
    });
    // The signal comes only once the taker runs, which on a loaded machine takes many seconds:
    // the attempt's timeout (and so its lease) must outlast that, or it ends by timing out.
    const [taskId] = await fleet.createTasks(recordedTemplate('terminated', 1, 300_000), 1, {
      slowFirstAttemptMs: 600_000,
    });
    await waitFor(
      'the first attempt to start',
      async () => (await fleet.sideEffects('started')).length === 1,
      DEADLINE_MS,
    );
    const taker = fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'taker', LOG_LEVEL: 'info' });
    // Started before the signal, so the bound below measures the hand-back, not a process start
    // on a busy machine.
    await waitFor('the taker to start', async () => taker.output().includes('worker started'), DEADLINE_MS);

    const signalledAt = Date.now();
    stopping.child.kill('SIGTERM');
    const code = await stopping.exited;
    const exitedAfterMs = Date.now() - signalledAt;
    await fleet.waitForTasks([taskId!], DEADLINE_MS);

    const attempts = await attemptsOf(taskId!);
    const rerunAfterMs = attempts[1]?.started_at.getTime() - signalledAt;
    console.info(
      `[measure] worker exited ${exitedAfterMs} ms after SIGTERM (grace 500 ms); the step re-ran ${rerunAfterMs} ms after the signal`,
    );
    expect(code).toBe(0);
    // Handed back, not expired: attempt 1 ends 'aborted' by its own worker (an expired lease would
    // record 'lease_expired' after 300 s, the step's timeout), and the worker exited long before.
    expect(exitedAfterMs).toBeLessThan(60_000);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.worker_id])).toEqual([
      [1, 'aborted', 'stopping'],
      [2, 'success', 'taker'],
    ]);
    const { rows } = await fleet.pool.query(
      'SELECT uncounted_attempts FROM workflow_steps WHERE task_id = $1',
      [taskId],
    );
    expect(rows[0].uncounted_attempts).toBe(1);
  });
});
