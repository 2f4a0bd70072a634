import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../src/scheduler.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const silent = (await import('@switchyard/logger')).createLogger({ name: 'test', level: 'silent' });

async function databaseUrl(): Promise<string> {
  const name = (await h.pool.query('SELECT current_database() AS db')).rows[0].db as string;
  const base = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  return base.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
}

async function schedulers(n: number) {
  const url = await databaseUrl();
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      startScheduler({
        pool: h.pool,
        databaseUrl: url,
        redis: h.redis,
        queuePrefix: h.prefix,
        logger: silent,
        intervalMs: 60_000,
        dispatchGraceMs: 0,
        schedulerId: `scheduler-${i}`,
      }),
    ),
  );
}

describe('scheduler repairs with two replicas', () => {
  it('repairs each expired lease, missing job and settled task exactly once', async () => {
    const template = testTemplate({ steps: [{ name: 'only', handler: 'sched_unserved' }] });
    await h.start([defineStepHandler('sched_other', () => null)], [template]);
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        h.create({ namespace: 'test', name: template.name, context: { i } }),
      ),
    );
    const ids = created.map((c) => c.task.id);
    const [leased, missing, settled] = [ids.slice(0, 10), ids.slice(10, 20), ids.slice(20, 30)];
    // Ten steps claimed by a worker that died; ten whose jobs vanished; ten tasks done but not finalized.
    await h.pool.query(
      `UPDATE workflow_steps SET status = 'in_progress', attempts = 1, claimed_by = 'dead-worker', started_at = now(),
              lease_expires_at = now() - interval '1 second' WHERE task_id = ANY($1)`,
      [leased],
    );
    await h.redis.del(...(await h.redis.keys(`${h.prefix}:*`)));
    await h.pool.query(
      `UPDATE workflow_steps SET status = 'complete', attempts = 1 WHERE task_id = ANY($1)`,
      [settled],
    );

    const [a, b] = await schedulers(2);
    const results = await Promise.all([a!.sweep(), b!.sweep(), a!.sweep(), b!.sweep()]);
    await a!.stop();
    await b!.stop();

    const total = (kind: 'lease_expired' | 'job_missing' | 'task_finalized') =>
      results.reduce((sum, r) => sum + r[kind], 0);
    expect(total('lease_expired')).toBe(10);
    expect(total('task_finalized')).toBe(10);
    // The 10 missing jobs plus the 10 steps whose lease expired are on a queue again.
    const queued = await h.dispatcher.queue('sched_unserved').getJobCounts('wait');
    expect(queued.wait).toBe(20);
    expect(total('job_missing')).toBeGreaterThanOrEqual(10);
    const transitions = await h.pool.query(
      `SELECT task_id, count(*)::int AS n FROM step_transitions WHERE reason = 'lease expired' GROUP BY task_id`,
    );
    expect(transitions.rows).toHaveLength(10);
    expect(transitions.rows.every((r) => r.n === 1)).toBe(true);
    const finals = await h.pool.query(
      `SELECT task_id, count(*)::int AS n FROM task_transitions WHERE to_status = 'complete' AND task_id = ANY($1) GROUP BY task_id`,
      [settled],
    );
    expect(finals.rows.map((r) => r.n)).toEqual(Array(10).fill(1));
    expect(missing).toHaveLength(10);
  });

  it('elects exactly one leader, and another replica takes over when the leader goes', async () => {
    const { LeaderElection } = await import('../src/leader-election.ts');
    const url = await databaseUrl();
    const replicas = [0, 1, 2].map(() => new LeaderElection(url, silent));
    const first = await Promise.all(replicas.map((r) => r.holdOrAcquire()));
    expect(first.filter(Boolean)).toHaveLength(1);
    const leader = replicas[first.indexOf(true)]!;
    expect(await leader.holdOrAcquire()).toBe(true);

    await leader.close();
    const rest = replicas.filter((r) => r !== leader);
    const second = await Promise.all(rest.map((r) => r.holdOrAcquire()));
    expect(second.filter(Boolean)).toHaveLength(1);
    await Promise.all(rest.map((r) => r.close()));
  });
});
