/**
 * The task list and the counts by status at 100 000 tasks: every filter the dashboard offers
 * must be served by an index, never by reading the whole tasks table. Each query is the real
 * one (listTasks / countTasksByStatus run against a connection that EXPLAINs instead of
 * executing), and the plans and times are printed, as a benchmark would. No timed assertion:
 * times depend on the machine, plans do not.
 */
import { countTasksByStatus, listTasks, type Pool, type Queryable } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from './harness.ts';

const TASKS = 100_000;
const DAY_MS = 86_400_000;

let pool: Pool;
let h: ApiHarness;
const now = Date.now();

/** 3 namespaces × 2 templates; tasks spread over 30 days, 1 in 50 failed, 1 in 100 running. */
async function seed(db: Pool): Promise<void> {
  await db.query(`INSERT INTO namespaces (name) VALUES ('accounts'), ('payments'), ('shipping')`);
  await db.query(
    `INSERT INTO named_tasks (namespace_id, name, version, definition, content_hash)
     SELECT ns.id, t.name, '1.0.0', '{"steps": []}'::jsonb, ns.name || t.name
       FROM namespaces ns CROSS JOIN (VALUES ('create'), ('close')) t(name)`,
  );
  await db.query(
    `INSERT INTO tasks (named_task_id, status, identity_strategy, identity_hash, context, correlation_id,
                        created_at, updated_at, completed_at)
     SELECT nt.id, s.status, 'unique', 'h' || i, jsonb_build_object('n', i), 'corr-' || i, at, at,
            CASE WHEN s.status IN ('complete', 'error') THEN at END
       FROM generate_series(1, $1::int) i
       CROSS JOIN LATERAL (SELECT to_timestamp(($2::bigint - (i::bigint * 30 * $3::bigint) / $1) / 1000.0) AS at) a
       CROSS JOIN LATERAL (SELECT CASE WHEN i % 50 = 0 THEN 'error' WHEN i % 100 = 1 THEN 'in_progress'
                                      ELSE 'complete' END AS status) s
       JOIN named_tasks nt ON nt.id = (SELECT min(id) FROM named_tasks) + i % 6`,
    [TASKS, now, DAY_MS],
  );
  await db.query('VACUUM ANALYZE tasks');
}

type Plan = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: Plan[] };
type Explained = { plan: Plan; executionMs: number };

/** Runs `run` against a connection that EXPLAINs (ANALYZE) every query instead of returning rows. */
async function explain(run: (db: Queryable) => Promise<unknown>): Promise<Explained> {
  let explained: Explained | undefined;
  const explaining = {
    query: async (text: string, values?: unknown[]) => {
      const { rows } = await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
      const [result] = rows[0]['QUERY PLAN'];
      explained = { plan: result.Plan, executionMs: result['Execution Time'] };
      return { rows: [] };
    },
  } as unknown as Queryable;
  await run(explaining);
  return explained!;
}

function nodes(plan: Plan): Plan[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** How the plan reads the tasks table: node types with their index, e.g. "Index Scan Backward(tasks_created_at_id_idx)". */
function taskAccess(plan: Plan): string[] {
  return nodes(plan)
    .filter((node) => node['Relation Name'] === 'tasks')
    .map((node) => `${node['Node Type']}${node['Index Name'] ? `(${node['Index Name']})` : ''}`);
}

const figures: { query: string; access: string; ms: number }[] = [];

/** Records how `run` reads the tasks table and how long it took. */
async function measure(query: string, run: (db: Queryable) => Promise<unknown>): Promise<string[]> {
  const { plan, executionMs } = await explain(run);
  const access = taskAccess(plan);
  figures.push({ query, access: access.join(', '), ms: Math.round(executionMs * 100) / 100 });
  expect(access.length, query).toBeGreaterThan(0);
  return access;
}

/** As measure, and fails when the query reads the whole tasks table. */
async function check(query: string, run: (db: Queryable) => Promise<unknown>): Promise<void> {
  const access = await measure(query, run);
  expect(
    access.filter((node) => node.startsWith('Seq Scan')),
    query,
  ).toEqual([]);
}

beforeAll(async () => {
  h = await createApiHarness();
  // The harness's database is the one the API serves: the EXPLAINs and the HTTP calls share it.
  pool = h.pool;
  const started = Date.now();
  await seed(pool);
  console.log(`seeded ${TASKS} tasks in ${Date.now() - started} ms`);
}, 180_000);

afterAll(async () => {
  console.table(figures);
  await h.close();
});

describe(`task list and counts at ${TASKS} tasks`, () => {
  it('serves every page and filter of the list from an index', async () => {
    const dayAgo = new Date(now - DAY_MS);
    await check('list: newest first', (db) => listTasks(db, {}));
    await check('list: status=error', (db) => listTasks(db, { status: 'error' }));
    await check('list: template', (db) => listTasks(db, { namespace: 'payments', name: 'close' }));
    await check('list: correlation id', (db) => listTasks(db, { correlationId: 'corr-77777' }));
    await check('list: last 24 h', (db) => listTasks(db, { createdAfter: dayAgo }));
    const deep = await listTasks(pool, { limit: 200, createdBefore: new Date(now - 20 * DAY_MS) });
    await check('list: a page 20 days back', (db) => listTasks(db, { cursor: deep.nextCursor! }));
    await check('list: key restricted to a namespace', (db) => listTasks(db, { namespaces: ['shipping'] }));
  });

  it('counts by status from an index for every filter', async () => {
    // Counting every task reads every row whichever way: Postgres rightly prefers one
    // sequential pass to walking a whole index (17 ms at 100 000 tasks here). Printed, not held
    // to an index; each filter the dashboard sends must use one.
    await measure('counts: everything', (db) => countTasksByStatus(db, {}));
    await check('counts: template', (db) => countTasksByStatus(db, { namespace: 'payments', name: 'close' }));
    await check('counts: last 24 h', (db) =>
      countTasksByStatus(db, { createdAfter: new Date(now - DAY_MS) }),
    );
    await check('counts: correlation id', (db) => countTasksByStatus(db, { correlationId: 'corr-4242' }));
  });

  it('answers the dashboard’s requests over HTTP with the right figures', async () => {
    const timed = async (path: string) => {
      const started = performance.now();
      const response = await h.call('GET', path);
      figures.push({
        query: `HTTP GET ${path}`,
        access: `status ${response.status}`,
        ms: Math.round(performance.now() - started),
      });
      return response;
    };
    const page = await timed('/v1/tasks?limit=25');
    expect(page.body.tasks).toHaveLength(25);
    const counts = await timed('/v1/tasks/counts');
    expect(counts.body.counts).toMatchObject({ error: TASKS / 50, in_progress: TASKS / 100 });
    expect(counts.body.total).toBe(TASKS);
    const errors = await timed('/v1/tasks?status=error&limit=25');
    expect(errors.body.tasks.every((task: { status: string }) => task.status === 'error')).toBe(true);
  });
});
