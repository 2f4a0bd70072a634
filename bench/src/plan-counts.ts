/**
 * `pnpm exec tsx bench/src/plan-counts.ts [--plan-cache-mode auto] [--count 500]`: how Postgres
 * plans the engine's prepared statements during a registration burst, read from the sessions
 * that ran them (pg_prepared_statements: custom and generic plans per statement), the CPU time
 * per step of the Postgres backends and of this process over the burst (as `pnpm bench` counts
 * it), and what planning and running one claim of 2 and of 100 deliveries cost (EXPLAIN ANALYZE
 * of the prepared claim, rolled back). Counts and CPU time, not throughput: they barely depend
 * on the machine being quiet.
 *
 * The pools are made as the roles make them: the worker's with generic plans (unless
 * `--plan-cache-mode auto`), the creator's (the API's part) and the scheduler's without.
 * Uses its own database, switchyard_plan_counts, so it can run beside `pnpm bench`.
 */

import { randomUUID } from 'node:crypto';
import { applyMigrations, createPool, ensureDatabase, type Pool, registerTemplate } from '@switchyard/db';
import { startScheduler, startWorker } from '@switchyard/engine';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { delta, snapshot } from './counters.ts';
import { createMany, templates, waitForAll } from './scenarios.ts';

const args = process.argv.slice(2);
const generic = !(
  args.includes('--plan-cache-mode') && args[args.indexOf('--plan-cache-mode') + 1] === 'auto'
);
const count = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) : 500;
const baseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const databaseUrl = baseUrl.replace(/\/[^/?]*(\?|$)/, '/switchyard_plan_counts$1');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ name: 'plan-counts', level: 'warn' });

type PlanCounts = Map<string, { generic: number; custom: number }>;

/** Every connection of `pool` at once, so each session's prepared statements are read. */
async function preparedStatements(pool: Pool, connections: number): Promise<PlanCounts> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  const counts: PlanCounts = new Map();
  try {
    for (const client of clients) {
      const { rows } = await client.query(
        `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'switchyard_%'`,
      );
      for (const row of rows) {
        const total = counts.get(row.name) ?? { generic: 0, custom: 0 };
        total.generic += Number(row.generic_plans);
        total.custom += Number(row.custom_plans);
        counts.set(row.name, total);
      }
    }
  } finally {
    for (const client of clients) client.release();
  }
  return counts;
}

/**
 * Planning and execution time of one claim of `deliveries` deliveries, as the worker's sessions
 * plan it now: EXPLAIN ANALYZE of the prepared statement (ids that match no step, rolled back),
 * medians of 21.
 */
async function claimTimes(
  pool: Pool,
  connections: number,
  deliveries: number,
): Promise<{ planningMs: number; executionMs: number } | null> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  try {
    const prepared = await Promise.all(
      clients.map((c) =>
        c.query(`SELECT 1 FROM pg_prepared_statements WHERE name = 'switchyard_claim_steps'`),
      ),
    );
    const client = clients[prepared.findIndex((result) => result.rows.length > 0)];
    if (!client) return null;
    const planning: number[] = [];
    const execution: number[] = [];
    const list = (value: () => string) => `{${Array.from({ length: deliveries }, value).join(',')}}`;
    for (let i = 0; i < 21; i++) {
      await client.query('BEGIN');
      // EXPLAIN takes no bind parameters: the values are literals (generated ids, constants).
      const plan = await client.query(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE switchyard_claim_steps(
           '${list(randomUUID)}', '${list(() => '1')}', '${list(() => '30000')}', 'plan-counts')`,
      );
      await client.query('ROLLBACK');
      planning.push(plan.rows[0]['QUERY PLAN'][0]['Planning Time'] as number);
      execution.push(plan.rows[0]['QUERY PLAN'][0]['Execution Time'] as number);
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[10]!;
    return { planningMs: median(planning), executionMs: median(execution) };
  } finally {
    for (const client of clients) client.release();
  }
}

function print(title: string, counts: PlanCounts): void {
  console.log(`\n${title}\n| statement | calls | custom plans | generic plans |\n|---|---|---|---|`);
  for (const [name, c] of [...counts].sort(([a], [b]) => a.localeCompare(b)))
    console.log(`| ${name} | ${c.custom + c.generic} | ${c.custom} | ${c.generic} |`);
}

async function main(): Promise<void> {
  await ensureDatabase(databaseUrl);
  const setup = createPool(databaseUrl, { max: 1, application: 'plan-counts-setup' });
  await setup.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await applyMigrations(setup);
  for (const template of Object.values(templates)) await registerTemplate(setup, template);
  await setup.end();

  const workerConnections = 6;
  const workerPool = createPool(databaseUrl, {
    max: workerConnections,
    application: 'plan-counts-worker',
    genericPlans: generic,
  });
  const creatorPool = createPool(databaseUrl, { max: 6, application: 'plan-counts-creator' });
  const schedulerPool = createPool(databaseUrl, { max: 4, application: 'plan-counts-scheduler' });
  const redis = createRedisConnection(redisUrl);
  const prefix = `plans-${randomUUID().slice(0, 8)}`;
  const deps = { pool: creatorPool, dispatcher: new StepDispatcher({ connection: redis, prefix }) };
  const worker = await startWorker({
    handlers: [defineStepHandler('noop', () => null)],
    pool: workerPool,
    redis,
    queuePrefix: prefix,
    concurrency: 10,
    logger,
  });
  const scheduler = await startScheduler({
    pool: schedulerPool,
    databaseUrl,
    redis,
    queuePrefix: prefix,
    logger,
  });
  try {
    // A first burst and ANALYZE, as `pnpm bench` warms up; then the burst that is counted.
    await waitForAll(creatorPool, await createMany(deps, templates.registration, 100, 10));
    await creatorPool.query('ANALYZE');
    const before = await snapshot(creatorPool, redis);
    await waitForAll(creatorPool, await createMany(deps, templates.registration, count, 10));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let every backend flush its stats
    const used = delta(before, await snapshot(creatorPool, redis));
    const perStep = (seconds: number) => ((seconds * 1000) / (count * 5)).toFixed(3);
    console.log(
      `plan_cache_mode for the worker's pool: ${generic ? 'force_generic_plan' : 'auto (the default)'}`,
    );
    console.log(`registrations: 100 (warm-up) + ${count}, 5 steps each`);
    print("worker's sessions", await preparedStatements(workerPool, workerConnections));
    print("creator's sessions (task creation, as the API runs it)", await preparedStatements(creatorPool, 6));
    console.log(
      `\nCPU per step over the counted burst: Postgres ${perStep(used.postgresCpu)} ms, this process ${perStep(used.nodeCpu)} ms`,
    );
    for (const deliveries of [2, 100]) {
      const times = await claimTimes(workerPool, workerConnections, deliveries);
      console.log(
        `one claim of ${deliveries} deliveries, medians of 21: planning ${times?.planningMs} ms, execution ${times?.executionMs} ms`,
      );
    }
  } finally {
    await worker.stop(0);
    await scheduler.stop();
    await deps.dispatcher.close();
    redis.disconnect();
    await Promise.all([workerPool.end(), creatorPool.end(), schedulerPool.end()]);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
