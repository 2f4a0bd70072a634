/**
 * `pnpm exec tsx bench/src/settled-task-scan.ts [--running 20000] [--finished 100000] [--limit 500] [--runs 3]`:
 * what the scheduler's settled-task scan costs Postgres over a backlog of running tasks (3 steps
 * each: one complete, one in progress, one pending; so none can be finalized) beside a history
 * of complete tasks. Prints shared buffers hit/read and execution time from
 * `EXPLAIN (ANALYZE, BUFFERS)` of the statement before the cursor (it examined every running
 * task until `limit` settled ones were found) and of the paged one (packages/db/src/repairs.ts),
 * with and without tasks_running_id_idx, and the paged one as a generic plan. Buffer counts
 * barely depend on the machine being quiet; times do.
 * Uses its own database, switchyard_settled_scan, made again on every run.
 */
import { applyMigrations, ensureDatabase } from '@switchyard/db';
import pg from 'pg';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) =>
  args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback;
const running = arg('running', 20_000);
const finished = arg('finished', 100_000);
const limit = arg('limit', 500);
const runs = arg('runs', 3);
const graceMs = 2_000;
const baseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const databaseUrl = baseUrl.replace(/\/[^/?]*(\?|$)/, '/switchyard_settled_scan$1');

const UNSETTLED = `EXISTS (SELECT 1 FROM workflow_steps s WHERE s.task_id = t.id
  AND (s.status IN ('enqueued', 'held', 'in_progress', 'waiting_retry')
       OR s.updated_at > clock_timestamp() - $2 * interval '1 millisecond'))`;

// The statement as it was before the cursor; $3 is unused, so that both take the same parameters.
const BEFORE_SQL = `SELECT t.id FROM tasks t
  WHERE t.status IN ('pending', 'in_progress') AND NOT ${UNSETTLED} AND $3::uuid IS NULL
  LIMIT $1`;

// packages/db/src/repairs.ts (SETTLED_TASKS_SQL).
const PAGED_SQL = `WITH page AS (
  SELECT t.id FROM tasks t
   WHERE t.status IN ('pending', 'in_progress')
     AND t.id > COALESCE($3::uuid, '00000000-0000-0000-0000-000000000000')
   ORDER BY t.id
   LIMIT $1)
SELECT t.id, NOT ${UNSETTLED} AS settled FROM page t ORDER BY t.id`;

const FILL_SQL = [
  `INSERT INTO namespaces (name) VALUES ('bench')`,
  `INSERT INTO named_tasks (namespace_id, name, version, definition, content_hash)
     SELECT id, 'scan', '1.0.0', '{}', 'bench' FROM namespaces WHERE name = 'bench'`,
  // Random ids: running and complete tasks interleave in id order, as they do in a live table.
  `INSERT INTO tasks (named_task_id, status, identity_strategy, identity_hash, context, correlation_id,
                      created_at, updated_at)
     SELECT (SELECT id FROM named_tasks), CASE WHEN g <= $1::int THEN 'complete' ELSE 'in_progress' END,
            'strict', 'scan-' || g, '{}', 'scan-' || g, now() - interval '1 hour', now() - interval '1 hour'
       FROM generate_series(1, $1::int + $2::int) g`,
  `INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                               backoff_cap_ms, timeout_ms, pending_parents, created_at, updated_at)
     SELECT t.id, n.name, 'scan_' || n.name, 'svc',
            CASE WHEN t.status = 'complete' THEN 'complete' ELSE n.status END,
            3, 100, 1000, 1000, 0, now() - interval '1 hour', now() - interval '1 hour'
       FROM tasks t CROSS JOIN (VALUES ('a', 'complete'), ('b', 'in_progress'), ('c', 'pending')) AS n(name, status)`,
];

type Figures = { hit: number; read: number; ms: number; rows: number };

async function explain(client: pg.Client, sql: string, after: string | null): Promise<Figures> {
  const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, [
    limit,
    graceMs,
    after,
  ]);
  return figures(rows[0]['QUERY PLAN'][0]);
}

function figures(plan: { Plan: Record<string, number>; 'Execution Time': number }): Figures {
  return {
    hit: plan.Plan['Shared Hit Blocks'] ?? 0,
    read: plan.Plan['Shared Read Blocks'] ?? 0,
    ms: plan['Execution Time'],
    rows: plan.Plan['Actual Rows'] ?? 0,
  };
}

/** Runs `measure` `runs` times in a transaction that is rolled back (so a dropped index comes back). */
async function measureRuns(
  client: pg.Client,
  label: string,
  setup: string[],
  measure: () => Promise<Figures>,
): Promise<void> {
  const results: Figures[] = [];
  for (let i = 0; i < runs; i++) {
    await client.query('BEGIN');
    try {
      for (const statement of setup) await client.query(statement);
      results.push(await measure());
    } finally {
      await client.query('ROLLBACK');
    }
  }
  const cells = results.map((r) => `hit=${r.hit} read=${r.read} ${r.ms.toFixed(1)} ms`);
  console.info(`${label.padEnd(52)} rows=${results[0]?.rows}  ${cells.join(' | ')}`);
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS switchyard_settled_scan WITH (FORCE)');
  await admin.end();
  await ensureDatabase(databaseUrl);
  await applyMigrations(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const startedAt = performance.now();
    for (const [i, sql] of FILL_SQL.entries()) await client.query(sql, i === 2 ? [finished, running] : []);
    await client.query('VACUUM ANALYZE tasks');
    await client.query('VACUUM ANALYZE workflow_steps');
    console.info(
      `${running} running tasks (3 steps each, none settled), ${finished} complete; filled in ${Math.round(performance.now() - startedAt)} ms; limit ${limit}, grace ${graceMs} ms`,
    );
    const { rows } = await client.query(
      `SELECT id FROM tasks WHERE status = 'in_progress' ORDER BY id OFFSET $1 LIMIT 1`,
      [Math.floor(running / 2)],
    );
    const middle = rows[0].id as string;
    const noIndex = ['DROP INDEX tasks_running_id_idx'];
    await measureRuns(client, 'before: every running task, no running-task index', noIndex, () =>
      explain(client, BEFORE_SQL, null),
    );
    await measureRuns(client, 'before: every running task, with the index', [], () =>
      explain(client, BEFORE_SQL, null),
    );
    await measureRuns(client, 'paged: a middle page through the primary key', noIndex, () =>
      explain(client, PAGED_SQL, middle),
    );
    await measureRuns(client, 'paged: the first page', [], () => explain(client, PAGED_SQL, null));
    await measureRuns(client, 'paged: a middle page', [], () => explain(client, PAGED_SQL, middle));
    const generic = [
      'SET LOCAL plan_cache_mode = force_generic_plan',
      `PREPARE settled_page (int, int, uuid) AS ${PAGED_SQL}`,
    ];
    await measureRuns(client, 'paged: a middle page, generic plan', generic, async () => {
      const explained = await client.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE settled_page(${limit}, ${graceMs}, '${middle}')`,
      );
      await client.query('DEALLOCATE settled_page');
      return figures(explained.rows[0]['QUERY PLAN'][0]);
    });
  } finally {
    await client.end();
  }
}

await main();
