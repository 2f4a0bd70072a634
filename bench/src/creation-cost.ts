/**
 * `pnpm exec tsx bench/src/creation-cost.ts [--count 2000] [--parallel 50] [--template registration]`:
 * what creating a task costs, alone (no worker, no scheduler): `count` creations through
 * createTask with `parallel` callers at once, as an API under load makes them. Prints, per
 * created task, the CPU time of the Postgres backends (from /proc, as `pnpm bench` counts it)
 * and of this process, the statements sent (the template's lookup is one per create), tasks per
 * creation statement, the rows, index entries and foreign-key checks written (counted in the
 * tables and the catalog), and the wall-clock rate. CPU per task barely depends on the machine
 * being quiet; the rate does.
 *
 * Uses its own database, switchyard_creation_cost, so it can run beside `pnpm bench`.
 */

import { randomUUID } from 'node:crypto';
import { applyMigrations, createPool, ensureDatabase, type Pool, registerTemplate } from '@switchyard/db';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { delta, snapshot } from './counters.ts';
import { createMany, templates } from './scenarios.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) =>
  args.includes(name) ? (args[args.indexOf(name) + 1] ?? fallback) : fallback;
const count = Number(option('--count', '2000'));
const parallel = Number(option('--parallel', '50'));
const templateName = option('--template', 'registration') as keyof typeof templates;
const template = templates[templateName];
const baseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const databaseUrl = baseUrl.replace(/\/[^/?]*(\?|$)/, '/switchyard_creation_cost$1');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ name: 'creation-cost', level: 'warn' });

/** The tables a creation writes to. */
const TABLES = ['tasks', 'workflow_steps', 'workflow_step_edges', 'step_transitions', 'task_transitions'];

type Writes = { rows: number; indexEntries: number; foreignKeyChecks: number };

/**
 * Rows in the tables a creation writes to, and with them the index entries (one per index whose
 * predicate the row meets) and the foreign-key checks (one per foreign key whose columns are not
 * null). Counted in the tables themselves: nothing else writes to this database.
 */
async function writes(pool: Pool): Promise<Writes> {
  const total: Writes = { rows: 0, indexEntries: 0, foreignKeyChecks: 0 };
  for (const table of TABLES) {
    const { rows } = await pool.query(`SELECT count(*)::float8 AS n FROM ${table}`);
    total.rows += rows[0].n;
    total.indexEntries += rows[0].n * (await perRow(pool, table, 'index'));
    total.foreignKeyChecks += rows[0].n * (await perRow(pool, table, 'fk'));
  }
  return total;
}

/** Index entries (or foreign-key checks) per row of `table`, averaged over its rows. */
async function perRow(pool: Pool, table: string, kind: 'index' | 'fk'): Promise<number> {
  const { rows } = await pool.query(
    kind === 'index'
      ? `SELECT COALESCE(pg_get_expr(indpred, indrelid), 'true') AS predicate FROM pg_index WHERE indrelid = $1::regclass`
      : `SELECT string_agg(format('%I IS NOT NULL', a.attname), ' AND ') AS predicate
           FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
          WHERE c.conrelid = $1::regclass AND c.contype = 'f' GROUP BY c.oid`,
    [table],
  );
  let sum = 0;
  for (const { predicate } of rows) {
    const share = await pool.query(
      `SELECT COALESCE(avg(CASE WHEN ${predicate} THEN 1 ELSE 0 END), 0)::float8 AS share FROM ${table}`,
    );
    sum += share.rows[0].share;
  }
  return sum;
}

/** The statements that created the tasks since `since`: a statement is one transaction, so one xmin. */
async function insertStatements(pool: Pool, since: Date): Promise<number> {
  const { rows } = await pool.query(
    'SELECT count(DISTINCT xmin::text)::int AS n FROM tasks WHERE created_at >= $1',
    [since],
  );
  return rows[0].n;
}

async function main(): Promise<void> {
  await ensureDatabase(databaseUrl);
  const setup = createPool(databaseUrl, { max: 1, application: 'creation-cost-setup' });
  await setup.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await applyMigrations(setup);
  await registerTemplate(setup, template);
  await setup.end();

  const pool = createPool(databaseUrl, { max: 6, application: 'creation-cost' });
  const redis = createRedisConnection(redisUrl);
  const prefix = `creation-${randomUUID().slice(0, 8)}`;
  const deps = { pool, dispatcher: new StepDispatcher({ connection: redis, prefix }), logger };
  try {
    // A warm-up and ANALYZE, as `pnpm bench` does; then the creations that are counted.
    await createMany(deps, template, 200, parallel);
    await pool.query('ANALYZE');
    const writesBefore = await writes(pool);
    const before = await snapshot(pool, redis);
    const since = (await pool.query('SELECT clock_timestamp() AS now')).rows[0].now as Date;
    const started = performance.now();
    await createMany(deps, template, count, parallel);
    const seconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let every backend flush its stats
    const used = delta(before, await snapshot(pool, redis));
    const writesAfter = await writes(pool);
    const steps = template.steps.length;
    const per = (value: number) => (value / count).toFixed(2);
    const ms = (cpuSeconds: number) => ((cpuSeconds * 1000) / count).toFixed(3);
    console.log(`${count} creations of ${templateName} (${steps} steps), ${parallel} at once`);
    console.log(
      `[measure] per task: Postgres CPU ${ms(used.postgresCpu)} ms (${ms(used.postgresCpu / steps)} per step), this process ${ms(used.nodeCpu)} ms, statements ${per(used.statements)} (${(count / (await insertStatements(pool, since))).toFixed(1)} tasks per creation statement)`,
    );
    console.log(
      `[measure] per task: rows ${per(writesAfter.rows - writesBefore.rows)}, index entries ${per(writesAfter.indexEntries - writesBefore.indexEntries)}, foreign-key checks ${per(writesAfter.foreignKeyChecks - writesBefore.foreignKeyChecks)}`,
    );
    console.log(`[measure] ${(count / seconds).toFixed(0)} tasks/s (wall clock, depends on the host's load)`);
  } finally {
    await deps.dispatcher.close();
    redis.disconnect();
    await pool.end();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
