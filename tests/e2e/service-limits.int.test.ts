import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './harness.ts';
import { type LimitFleet, startLimitFleet } from './limits-harness.ts';

// Generous deadlines: worker processes start slowly on a loaded machine; only a wait that never
// ends fails. Durations are printed, not asserted, except where the limit itself is the claim.
const DEADLINE_MS = 120_000;

let fleet: LimitFleet | null = null;
afterEach(async () => {
  await fleet?.close();
  fleet = null;
}, DEADLINE_MS);

describe('bulkheads: a limit per dependent system, across the fleet', () => {
  it('max_concurrent 4 with 3 worker processes of 10 slots: the service never sees more than 4 calls at once, and nothing uses an attempt to wait', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    fleet = await startLimitFleet({ limit: { max_concurrent: 4 }, holdMs: 150 });
    for (let i = 0; i < 3; i++) fleet.spawnWorker({ SWITCHYARD_WORKER_ID: `w${i}` });
    const ids = await fleet.createTasks(60);
    await fleet.waitForTasks(ids, DEADLINE_MS);

    expect(fleet.service.starts()).toHaveLength(60);
    expect(fleet.service.maxInFlight()).toBe(4);
    // Steps waited (held with reason concurrency), and waiting used no attempt.
    expect((await fleet.limitHolds(ids)).concurrency).toBeGreaterThan(0);
    expect(await fleet.attempts(ids)).toEqual(ids.map(() => ({ attempts: 1, rows: 1 })));
    console.info(
      `[measure] 60 calls of 150 ms at max_concurrent 4: ${fleet.service.starts().at(-1)! - fleet.service.starts()[0]!} ms from first to last call`,
    );
  });

  it('rate 5/s (burst 1): calls per second measured at the service within 10 % of the policy', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    fleet = await startLimitFleet({ limit: { rate: 5, burst: 1 }, holdMs: 10 });
    fleet.spawnWorker();
    fleet.spawnWorker();
    const ids = await fleet.createTasks(31);
    await fleet.waitForTasks(ids, DEADLINE_MS);

    const starts = fleet.service.starts();
    expect(starts).toHaveLength(31);
    const perSecond = ((starts.length - 1) * 1000) / (starts.at(-1)! - starts[0]!);
    console.info(`[measure] rate 5/s burst 1: ${perSecond.toFixed(2)} calls/s over ${starts.length} calls`);
    expect(perSecond).toBeGreaterThan(4.5);
    expect(perSecond).toBeLessThan(5.5);
    expect((await fleet.limitHolds(ids)).rate).toBeGreaterThan(0);
    expect(await fleet.attempts(ids)).toEqual(ids.map(() => ({ attempts: 1, rows: 1 })));
  });

  it('a worker SIGKILLed while holding every slot gives the capacity back within one lease', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    // Lease: max(1500 ms, the step's 3000 ms timeout) = 3000 ms.
    fleet = await startLimitFleet({ limit: { max_concurrent: 2 }, holdMs: 50, timeoutMs: 3_000 });
    fleet.service.setHang(true);
    const doomed = fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'doomed' });
    const ids = await fleet.createTasks(6);
    const service = fleet.service;
    await waitFor(
      'both slots taken by the doomed worker',
      async () => service.starts().length === 2,
      DEADLINE_MS,
    );
    // The other 4 wait for the limit.
    await waitFor(
      'the rest held by the limit',
      async () => ((await fleet!.limitHolds(ids)).concurrency ?? 0) >= 4,
    );

    service.setHang(false);
    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await doomed.exited;
    fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'survivor' });
    await fleet.waitForTasks(ids, DEADLINE_MS);

    const after = service.starts().filter((at) => at > killedAt);
    console.info(`[measure] first call after the SIGKILL: ${after[0]! - killedAt} ms (lease 3000 ms)`);
    expect(after).toHaveLength(6);
    expect(service.maxInFlight()).toBeLessThanOrEqual(2);
  });

  it('a FLUSHALL mid-way neither leaks capacity nor lets the limit be exceeded', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    fleet = await startLimitFleet({ limit: { max_concurrent: 3 }, holdMs: 200 });
    fleet.spawnWorker();
    fleet.spawnWorker();
    const ids = await fleet.createTasks(30);
    const service = fleet.service;
    await waitFor('a third of the calls made', async () => service.starts().length >= 10, DEADLINE_MS);
    await fleet.redis.flushall();
    await fleet.waitForTasks(ids, DEADLINE_MS);

    expect(service.maxInFlight()).toBe(3);
    expect(service.starts()).toHaveLength(30);
    const { rows } = await fleet.pool.query(
      `SELECT count(*)::int AS n FROM workflow_steps WHERE status <> 'complete' OR waiting_since IS NOT NULL`,
    );
    expect(rows[0].n).toBe(0);
    expect(await fleet.attempts(ids)).toEqual(ids.map(() => ({ attempts: 1, rows: 1 })));
  });
});
