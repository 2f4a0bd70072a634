import { defineStepHandler } from '@switchyard/handler-kit';
import { stepJobId } from '@switchyard/queue';
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
    // Jobs carry fair-queueing priorities, so they wait in BullMQ's prioritized set.
    const queued = await h.dispatcher.queue('sched_unserved').getJobCounts('wait', 'prioritized');
    expect((queued.wait ?? 0) + (queued.prioritized ?? 0)).toBe(20);
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

  it('finds each missing job by its id in a backlog larger than one sweep checks, resuming where the last sweep stopped', async () => {
    const handler = 'sched_backlog';
    const template = testTemplate({ steps: [{ name: 'only', handler }] });
    await h.start([defineStepHandler('sched_backlog_other', () => null)], [template]);
    const ids: string[] = [];
    for (let i = 0; i < 3000; i += 8) {
      const batch = Array.from({ length: Math.min(8, 3000 - i) }, (_, j) =>
        h.create({ namespace: 'test', name: template.name, context: { i: i + j } }),
      );
      ids.push(...(await Promise.all(batch)).map((c) => c.task.id));
    }
    // Every step has its job (a busy queue); their due times are spread one millisecond apart.
    const { rows } = await h.pool.query(
      `UPDATE workflow_steps s SET enqueued_at = now() - interval '1 hour' + o.n * interval '1 millisecond'
         FROM unnest($1::uuid[]) WITH ORDINALITY AS o(task_id, n)
        WHERE s.task_id = o.task_id
        RETURNING s.id AS "stepId", s.task_id AS "taskId", s.handler, s.attempts + 1 AS attempt, o.n`,
      [ids],
    );
    const byAge = rows.sort((a, b) => Number(a.n) - Number(b.n));
    const [oldest, newest] = [byAge[0], byAge.at(-1)];
    const queue = h.dispatcher.queue(handler);
    for (const step of [oldest, newest]) await queue.remove(stepJobId(step.stepId, step.attempt));

    const [scheduler] = await schedulers(1);
    const timings: number[] = [];
    const sweeps = [];
    for (let i = 0; i < 3; i++) {
      const startedAt = performance.now();
      sweeps.push((await scheduler!.sweep()).job_missing);
      timings.push(Math.round(performance.now() - startedAt));
    }
    await scheduler!.stop();

    console.info(
      `[measure] sweeps over ${rows.length} candidates with jobs (2000 checked per sweep, pages of 500): ${timings.join(', ')} ms; re-dispatched ${sweeps.join(', ')}`,
    );
    // The oldest missing job comes back on the first sweep, the newest on the second (the
    // first stops after 2000 candidates), and nothing that has its job is added again.
    expect(sweeps).toEqual([1, 1, 0]);
    expect(await h.dispatcher.findMissing([oldest, newest])).toEqual([]);
    expect(await queue.getJobCountByTypes('wait', 'prioritized')).toBe(3000);
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

  it('prunes finished tasks past the retention age, and keeps the rest', async () => {
    const template = testTemplate({ steps: [{ name: 'only', handler: 'sched_prunable' }] });
    await h.start([defineStepHandler('sched_prunable', () => ({ ok: true }))], [template]);
    const old = await h.create({ namespace: 'test', name: template.name, context: { n: 1 } });
    const recent = await h.create({ namespace: 'test', name: template.name, context: { n: 2 } });
    expect(await h.waitForTask(old.task.id)).toBe('complete');
    expect(await h.waitForTask(recent.task.id)).toBe('complete');
    await h.pool.query(
      `UPDATE tasks SET created_at = now() - interval '3 hours', completed_at = now() - interval '2 hours' WHERE id = $1`,
      [old.task.id],
    );
    await h.pool.query(
      `UPDATE step_attempts SET finished_at = now() - interval '2 hours' WHERE task_id = $1`,
      [old.task.id],
    );

    const [scheduler] = await schedulers(1);
    const swept = await scheduler!.sweep();
    await scheduler!.stop();

    expect(swept.tasks_pruned).toBe(0); // retention is off unless configured
    const url = await databaseUrl();
    const pruning = await startScheduler({
      pool: h.pool,
      databaseUrl: url,
      redis: h.redis,
      queuePrefix: h.prefix,
      logger: silent,
      intervalMs: 60_000,
      retention: { olderThanMs: 3_600_000, breakerWindowMs: 60_000, intervalMs: 0 },
    });
    expect((await pruning.sweep()).tasks_pruned).toBe(1);
    await pruning.stop();
    const { rows } = await h.pool.query('SELECT id FROM tasks WHERE id = ANY($1)', [
      [old.task.id, recent.task.id],
    ]);
    expect(rows.map((r) => r.id)).toEqual([recent.task.id]);
  });
});
