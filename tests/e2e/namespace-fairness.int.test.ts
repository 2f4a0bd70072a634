import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from './harness.ts';
import { type LimitFleet, startLimitFleet } from './limits-harness.ts';

// Generous deadlines: only a wait that never ends fails. Latencies are compared as a ratio
// measured in the same run, on the same machine.
const DEADLINE_MS = 180_000;

let fleet: LimitFleet | null = null;
afterEach(async () => {
  await fleet?.close();
  fleet = null;
}, DEADLINE_MS);

/** Milliseconds from each task's creation to the end of its successful call. */
async function latencies(f: LimitFleet, ids: string[]): Promise<number[]> {
  const { rows } = await f.pool.query(
    `SELECT (extract(epoch FROM a.finished_at - t.created_at) * 1000)::int AS ms
       FROM tasks t JOIN step_attempts a ON a.task_id = t.id AND a.outcome = 'success' AND NOT a.stale
      WHERE t.id = ANY($1) ORDER BY ms`,
    [ids],
  );
  return rows.map((row) => row.ms as number);
}

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)]!;

/** Creates `count` tasks of `namespace` one after another, `gapMs` apart, and waits for all. */
async function trickle(f: LimitFleet, namespace: string, count: number, gapMs: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(...(await f.createTasks(1, namespace)));
    await sleep(gapMs);
  }
  await f.waitForTasks(ids, DEADLINE_MS);
  return ids;
}

describe('fairness across namespaces', () => {
  it("namespace B's p50 latency stays within 2x of its unloaded value while namespace A floods the same step type", {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    fleet = await startLimitFleet({ limit: {}, holdMs: 100, namespaces: ['tenant_a', 'tenant_b'] });
    const f = fleet;
    // One worker of 4 slots: 40 calls a second at most.
    f.spawnWorker({ SWITCHYARD_CONCURRENCY: '4' });
    // Warm up, then B alone.
    await f.waitForTasks(await f.createTasks(4, 'tenant_b'), DEADLINE_MS);
    const unloaded = median(await latencies(f, await trickle(f, 'tenant_b', 10, 150)));

    // A floods: 300 tasks at once, 7.5 s of work for the worker; B trickles in meanwhile.
    const flood = await f.createTasks(300, 'tenant_a');
    const loadedIds = await trickle(f, 'tenant_b', 10, 150);
    const { rows } = await f.pool.query(
      `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status <> 'complete'`,
      [flood],
    );
    const floodLeft = rows[0].n as number;
    const loaded = median(await latencies(f, loadedIds));
    console.info(
      `[measure] namespace B p50: ${unloaded} ms alone, ${loaded} ms while A flooded (ratio ${(loaded / unloaded).toFixed(2)}); ${floodLeft} of A's 300 still unfinished when B's last completed`,
    );
    // B finished while A's flood was still queued: B went ahead of it, not behind it.
    expect(floodLeft).toBeGreaterThan(0);
    expect(loaded).toBeLessThanOrEqual(2 * unloaded);
    await f.waitForTasks(flood, DEADLINE_MS);
  });
});
