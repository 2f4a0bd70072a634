import { listServiceLimitChanges, listServiceLimits, overrideServiceLimit } from '@switchyard/db';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from './harness.ts';
import { type LimitFleet, SYSTEM, startLimitFleet } from './limits-harness.ts';

const DEADLINE_MS = 120_000;

let fleet: LimitFleet | null = null;
let feeding: { stop(): Promise<string[]> } | null = null;
afterEach(async () => {
  await feeding?.stop();
  feeding = null;
  await fleet?.close();
  fleet = null;
}, DEADLINE_MS);

/**
 * Keeps `outstanding` tasks unfinished until stopped (a closed loop: demand always above the
 * limit, without a backlog that grows while the service is slow). Returns every task created.
 */
function feed(f: LimitFleet, outstanding: number) {
  const ids: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await f.pool.query(
        `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status <> 'complete'`,
        [ids],
      );
      const missing = outstanding - rows[0].n;
      if (missing > 0) ids.push(...(await f.createTasks(missing)));
      await sleep(50);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return ids;
    },
  };
}

async function baselineOf(f: LimitFleet): Promise<number | null> {
  const [view] = await listServiceLimits(f.pool, { dependentSystem: SYSTEM });
  return view?.adaptive?.baselineLatencyMs ?? null;
}

/** The limit's history with its evidence, for a test that timed out waiting for it to move. */
async function printHistory(f: LimitFleet): Promise<void> {
  const history = await listServiceLimitChanges(f.pool, { dependentSystem: SYSTEM, limit: 40 });
  const [view] = await listServiceLimits(f.pool, { dependentSystem: SYSTEM });
  console.error(`limit now: ${JSON.stringify(view)}`);
  for (const c of history)
    console.error(
      `${c.createdAt.toISOString()} ${c.source} ${c.limit.maxConcurrent}: ${c.reason} ${JSON.stringify(c.evidence)}`,
    );
}

async function limitInForce(f: LimitFleet): Promise<number | null> {
  const [view] = await listServiceLimits(f.pool, { dependentSystem: SYSTEM });
  return view?.limit.maxConcurrent ?? null;
}

describe('adaptive limits: the limit follows the service’s health', () => {
  it('falls when the service slows (latency queued inside it) and grows back when it recovers, each change with its evidence', {
    timeout: 4 * DEADLINE_MS,
  }, async () => {
    fleet = await startLimitFleet({
      limit: { max_concurrent: 12, adaptive: { min: 2, max: 12 } },
      // Calls long enough that the demand of 30 outstanding tasks keeps 12 in flight on a loaded
      // host (at 20 ms a call the workers, not the limit, bound the calls in flight, and a limit
      // nothing reaches does not grow).
      holdMs: 300,
      limitAdaptMs: 200,
    });
    const f = fleet;
    f.spawnWorker();
    f.spawnWorker();
    feeding = feed(f, 30);

    // Healthy: 300 ms a call, every call worked on at once. The limit stays at its ceiling.
    await waitFor(
      'a baseline learned',
      async () =>
        (await listServiceLimits(f.pool, { dependentSystem: SYSTEM }))[0]?.adaptive?.baselineLatencyMs !=
        null,
      DEADLINE_MS,
    );
    // (Healthy, the limit stays near its ceiling; on a loaded host the workers' own delays can
    // already cost it a step or two, so the test does not require exactly 12 here.)

    // Slow: one call worked on at a time; every other call waits inside the service, so its
    // latency is the calls in flight × 300 ms.
    f.service.setCapacity(1);
    const slowedAt = Date.now();
    await waitFor(
      'the limit fell to at most 4',
      async () => ((await limitInForce(f)) ?? 99) <= 4,
      DEADLINE_MS,
    ).catch(async (err) => {
      await printHistory(f);
      throw err;
    });
    const fellMs = Date.now() - slowedAt;

    // Recovered.
    f.service.setCapacity(null);
    const recoveredAt = Date.now();
    // Back to two thirds of its ceiling at least: on a loaded host the worker processes' own delays
    // add to the service's 300 ms, and the limit settles where latency is twice its baseline.
    await waitFor(
      'the limit grew back to 8 or more',
      async () => ((await limitInForce(f)) ?? 0) >= 8,
      DEADLINE_MS,
    ).catch(async (err) => {
      await printHistory(f);
      throw err;
    });
    const grewMs = Date.now() - recoveredAt;

    const ids = await feeding.stop();
    feeding = null;
    await f.waitForTasks(ids, DEADLINE_MS);

    const changes = (await listServiceLimitChanges(f.pool, { dependentSystem: SYSTEM, limit: 500 }))
      .filter((c) => c.source === 'adaptive')
      .reverse();
    const path = [12, ...changes.map((c) => c.limit.maxConcurrent)];
    console.info(
      `[measure] adaptive limit path: ${path.join(' → ')}; fell to ≤ 4 in ${fellMs} ms, back to ≥ 8 in ${grewMs} ms; ${ids.length} tasks`,
    );
    // Every change says what it was judged on, and the changes chain: each starts where the last ended.
    let previous = 12;
    for (const change of changes) {
      expect(change.evidence).not.toBeNull();
      expect(change.evidence!.from).toBe(previous);
      expect(change.evidence!.to).toBe(change.limit.maxConcurrent);
      expect(change.evidence!.calls).toBeGreaterThanOrEqual(5);
      expect(change.reason).toMatch(/→/);
      previous = change.evidence!.to;
    }
    const decreases = changes.filter((c) => c.evidence!.to < c.evidence!.from);
    expect(decreases.length).toBeGreaterThan(0);
    // a decrease was judged on latency over twice the baseline (no call failed here)
    expect(decreases.some((c) => c.evidence!.p50Ms! > 2 * c.evidence!.baselineMs!)).toBe(true);
    expect(changes.some((c) => c.evidence!.to > c.evidence!.from)).toBe(true);
    // Waiting for the limit used no attempt.
    expect((await f.attempts(ids)).every((a) => a.attempts === 1 && a.rows === 1)).toBe(true);
  });

  it('an operator override pauses the limiter; resetting it hands the limit back', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    fleet = await startLimitFleet({
      limit: { max_concurrent: 8, adaptive: { min: 2, max: 8 } },
      holdMs: 150,
      limitAdaptMs: 200,
    });
    const f = fleet;
    f.spawnWorker();
    feeding = feed(f, 20);
    await waitFor('a baseline learned', async () => (await baselineOf(f)) != null, DEADLINE_MS);
    f.service.setCapacity(1);
    await waitFor('the limit fell', async () => ((await limitInForce(f)) ?? 99) < 8, DEADLINE_MS);

    await overrideServiceLimit(f.pool, {
      dependentSystem: SYSTEM,
      limit: { maxConcurrent: 6, rate: null, burst: null },
      reason: 'hold it at 6',
      actor: 'test',
    });
    const [paused] = await listServiceLimits(f.pool, { dependentSystem: SYSTEM });
    expect(paused!.adaptive!.paused).toBe(true);
    const changesBefore = (await listServiceLimitChanges(f.pool, { dependentSystem: SYSTEM, limit: 500 }))
      .length;
    // Twenty slow calls under the override (many judgement periods of 200 ms): nothing adaptive happens.
    const callsAtOverride = f.service.starts().length;
    await waitFor(
      'twenty calls under the override',
      async () => f.service.starts().length >= callsAtOverride + 20,
      DEADLINE_MS,
    );
    expect(await limitInForce(f)).toBe(6);
    const after = await listServiceLimitChanges(f.pool, { dependentSystem: SYSTEM, limit: 500 });
    expect(after.length).toBe(changesBefore);
    expect(f.scheduler.repairs().limit_changes).toBeGreaterThan(0);

    await overrideServiceLimit(f.pool, {
      dependentSystem: SYSTEM,
      limit: null,
      reason: 'hand it back',
      actor: 'test',
    });
    const [resumed] = await listServiceLimits(f.pool, { dependentSystem: SYSTEM });
    expect(resumed!.adaptive!.paused).toBe(false);
    // The limiter's own last limit is in force again, not the configured 8.
    expect(resumed!.limit.maxConcurrent).toBe(resumed!.adaptive!.limit);
    expect(resumed!.limit.maxConcurrent).toBeLessThan(8);
  });
});
