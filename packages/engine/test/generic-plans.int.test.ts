import { createPool, type Pool, type PoolClient } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis, type TestDatabase, waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTask } from '../src/create-task.ts';
import { WORKER_CONNECTIONS } from '../src/roles.ts';
import { registerTemplates } from '../src/templates.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';
import { testTemplate } from './harness.ts';

// The worker's hot statements use generic plans, made again every 2 s (README, "Postgres
// settings the engine relies on"). Under Postgres's default plan_cache_mode the claim was
// re-planned on every call: its array parameters make each custom plan look cheaper than the
// generic one.

const CONNECTIONS = 2;
let database: TestDatabase;
const testRedis = createTestRedis();
const redis = testRedis.connection();
const dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
let workerPool: Pool;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  // As the worker role makes its pool (apps/worker).
  workerPool = createPool(database.url, {
    max: CONNECTIONS,
    application: 'switchyard-worker',
    ...WORKER_CONNECTIONS.pool,
  });
});
afterAll(async () => {
  await worker?.stop();
  await dispatcher.close();
  await workerPool.end();
  await testRedis.cleanup();
  await database.drop();
});

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };

/** Every node of a plan tree (EXPLAIN's JSON format), CTEs and subplans included. */
function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

type PlanCounts = { name: string; generic_plans: number; custom_plans: number };

/** Runs `fn` on every connection of the worker's pool at once (each session has its own statements). */
async function onEveryConnection<T>(fn: (client: PoolClient) => Promise<T>): Promise<T[]> {
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => workerPool.connect()));
  try {
    return await Promise.all(clients.map(fn));
  } finally {
    for (const client of clients) client.release();
  }
}

describe("the worker's connections", () => {
  it('run the claim and the success statements with generic plans, the claim by primary key', async () => {
    const handler = defineStepHandler('generic_plan_step', () => ({ ok: true }));
    const template = testTemplate({
      steps: [
        { name: 'a', handler: 'generic_plan_step' },
        { name: 'b', handler: 'generic_plan_step', depends_on: ['a'] },
        { name: 'c', handler: 'generic_plan_step', depends_on: ['b'] },
      ],
    });
    await registerTemplates(database.pool, [template]);
    worker = await startWorker({
      handlers: [handler],
      pool: workerPool,
      redis,
      queuePrefix: testRedis.prefix,
      logger: createLogger({ name: 'test', level: 'silent' }),
    });
    const create = (context: Record<string, number>) =>
      createTask(
        { pool: database.pool, dispatcher },
        { namespace: 'test', name: template.name, context },
        'test',
      );
    // More calls than the five custom plans Postgres always makes first under its default mode.
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await create({ i })).task.id);
    await waitFor('the 8 tasks to complete', async () => {
      const { rows } = await database.pool.query(
        `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
        [ids],
      );
      return rows[0].n === ids.length;
    });

    const sessions = await onEveryConnection(async (client) => {
      const { rows } = await client.query<PlanCounts>(
        `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements
          WHERE name IN ('switchyard_claim_steps', 'switchyard_step_successes')`,
      );
      return rows;
    });
    const totals = new Map<string, { generic: number; custom: number }>();
    for (const row of sessions.flat()) {
      const total = totals.get(row.name) ?? { generic: 0, custom: 0 };
      total.generic += Number(row.generic_plans);
      total.custom += Number(row.custom_plans);
      totals.set(row.name, total);
    }
    // 24 steps: batched claims and successes count once per statement, so at least 6 of each.
    for (const name of ['switchyard_claim_steps', 'switchyard_step_successes']) {
      expect(totals.get(name)?.custom, name).toBe(0);
      expect(totals.get(name)?.generic, name).toBeGreaterThanOrEqual(6);
    }

    // The plan every claim reuses finds the requested steps, and their tasks, by primary key: a
    // status index or a sequential scan would read the whole backlog on every claim.
    const claimPlan = async (): Promise<PlanNode | undefined> => {
      const plans = await onEveryConnection(async (client) => {
        const prepared = await client.query(
          `SELECT 1 FROM pg_prepared_statements WHERE name = 'switchyard_claim_steps'`,
        );
        if (prepared.rows.length === 0) return null;
        // EXPLAIN takes no bind parameters; without ANALYZE nothing runs, and the plan shown is
        // the one the session caches for the statement.
        const { rows } = await client.query(
          `EXPLAIN (FORMAT JSON) EXECUTE switchyard_claim_steps(
             '{00000000-0000-4000-8000-000000000000}', '{1}', '{30000}', 'test')`,
        );
        return rows[0]['QUERY PLAN'][0].Plan as PlanNode;
      });
      return plans.find((p) => p !== null) ?? undefined;
    };
    const scansOf = (plan: PlanNode, table: string) =>
      planNodes(plan).filter((node) => node['Node Type'].endsWith('Scan') && node['Relation Name'] === table);
    const sequentialScans = (plan: PlanNode) =>
      ['workflow_steps', 'tasks']
        .flatMap((table) => scansOf(plan, table))
        .filter((n) => n['Node Type'] === 'Seq Scan').length;

    // Planned on tables of a few dozen rows, the generic plan scans them.
    const small = await claimPlan();
    expect(small).toBeDefined();
    const scansWhenSmall = sequentialScans(small!);
    expect(scansWhenSmall).toBeGreaterThan(0);

    // The tables grow (a backlog of 2,000 tasks while no worker runs) and nothing analyzes them:
    // the sessions plan the statement again within the pool's re-plan interval, for the tables'
    // current size (a kept plan would scan the backlog on every claim until an ANALYZE).
    await worker.stop();
    worker = undefined;
    await Promise.all(
      Array.from({ length: 10 }, async (_, lane) => {
        for (let i = 0; i < 200; i++) await create({ lane, i });
      }),
    );
    await waitFor(
      'the claim planned again for the grown tables',
      async () => {
        const current = await claimPlan();
        return current && sequentialScans(current) < scansWhenSmall;
      },
      30_000,
    );

    // With the tables' statistics, every read of a step or a task is by primary key.
    await database.pool.query('ANALYZE');
    const plan = await claimPlan();
    for (const table of ['workflow_steps', 'tasks']) {
      const scans = scansOf(plan!, table);
      expect(scans.length, table).toBeGreaterThan(0);
      for (const scan of scans) {
        expect([scan['Node Type'], scan['Index Name']], table).toEqual(['Index Scan', `${table}_pkey`]);
      }
    }
  }, 120_000);
});
