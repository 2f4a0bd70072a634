/**
 * `pnpm bench`: latency and throughput of the whole engine (Postgres + BullMQ + worker +
 * scheduler, no-op handlers, everything on this machine), side by side with raw BullMQ in the
 * same run. Prints a Markdown table and writes bench/results/latest.json.
 *
 *   pnpm bench [--repeat 3] [--quick] [--only registration_burst,linear4] [--concurrency 10]
 *              [--limit-every-system] [--plan-cache-mode auto] [--no-eager] [--tracing]
 *              [--log-level info] [--creator-process]
 *
 * The worker has a pool of its own, made as the worker role makes it (generic plans; see
 * WORKER_CONNECTIONS), the creators and the scheduler share another, as the API's and the
 * scheduler's pools are made. `--plan-cache-mode auto` leaves the worker's pool on Postgres's
 * default, to measure what generic plans bring. `--no-eager` turns the workers' eager claim off
 * (every child goes through the queue), to measure what it brings. `--tracing` turns tracing on
 * (OTLP to a loopback collector that drops the spans; trace-sink.ts), to measure what it costs.
 * `--log-level info` logs as production does by default, each line written to /dev/null, to
 * measure what logging costs (the bench logs warnings only, to stdout, otherwise).
 * `--creator-process` creates the bursts' tasks in a child process, as an API does in production,
 * so that this process runs only the workers and the scheduler (creator-process.ts).
 */

import { randomUUID } from 'node:crypto';
import { openSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { applyMigrations, createPool, ensureDatabase, type Pool, registerTemplate } from '@switchyard/db';
import { startScheduler, startWorker, WORKER_CONNECTIONS } from '@switchyard/engine';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { bullmqRaw } from './bullmq-raw.ts';
import { delta, snapshot } from './counters.ts';
import { type CreatorProcess, startCreatorProcess } from './creator-process.ts';
import {
  create,
  createMany,
  type Deps,
  latencies,
  percentile,
  SLEEP_10MS,
  templates,
  waitForAll,
} from './scenarios.ts';
import { startTracingToSink } from './trace-sink.ts';

const args = process.argv.slice(2);
const repeat = Number(args[args.indexOf('--repeat') + 1]) || 3;
const quick = args.includes('--quick');
/** `--only registration_burst,linear4`: run just these scenarios (for profiling one of them). */
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1]?.split(',')) : null;
const runs = (scenario: string) => only === null || only.has(scenario);
const scale = quick ? 0.1 : 1;
/** `--concurrency 30`: the worker's (and raw BullMQ's) concurrency; 10 by default. */
const CONCURRENCY = args.includes('--concurrency') ? Number(args[args.indexOf('--concurrency') + 1]) : 10;
/**
 * `--limit-every-system`: a concurrency and a rate limit on every dependent system, too generous
 * to hold anything back, so the run measures what the limiter itself costs per step.
 */
const limitEverySystem = args.includes('--limit-every-system');
const GENEROUS_LIMIT = { max_concurrent: 100_000, rate: 1_000_000, burst: 1_000_000 };
const genericPlans = !(
  args.includes('--plan-cache-mode') && args[args.indexOf('--plan-cache-mode') + 1] === 'auto'
);
/** `--no-eager`: the workers dispatch every ready child through the queue (eagerClaim: false). */
const eagerClaim = !args.includes('--no-eager');
/** `--tracing`: spans for every step, exported as in production (see trace-sink.ts). */
const tracing = args.includes('--tracing');
/** `--creator-process`: the bursts' tasks are created by a child process (creator-process.ts). */
const inCreatorProcess = args.includes('--creator-process');
/** The handler_latency scenario's worker: handlers that wait 10 ms, 200 slots. */
const SLOW_HANDLER_SLOTS = 200;
const baseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
/** BENCH_DATABASE: the database the bench drops and fills (default switchyard_bench). */
const benchDatabase = process.env.BENCH_DATABASE ?? 'switchyard_bench';
const databaseUrl = baseUrl.replace(/\/[^/?]*(\?|$)/, `/${benchDatabase}$1`);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** `--log-level info`: the engine's lines at this level, each written to /dev/null as pino writes to stdout (one write per line). */
const logLevel = args.includes('--log-level') ? (args[args.indexOf('--log-level') + 1] ?? 'warn') : 'warn';
const logger = createLogger({
  name: 'bench',
  level: logLevel,
  destination: logLevel === 'warn' ? undefined : devNull(),
});

function devNull() {
  const fd = openSync('/dev/null', 'w');
  return { write: (line: string) => writeSync(fd, line) };
}

type Row = { scenario: string; metric: string; value: number; unit: string; min?: number; max?: number };
const rows: Row[] = [];

function record(scenario: string, metric: string, unit: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  rows.push({
    scenario,
    metric,
    unit,
    value: round(median),
    min: round(sorted[0]!),
    max: round(sorted.at(-1)!),
  });
}

const round = (n: number) => Math.round(n * 100) / 100;

let versions: Record<string, string> = {};
let creator: CreatorProcess | null = null;

async function main(): Promise<void> {
  const traces = tracing ? await startTracingToSink() : null;
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, { max: 20, application: 'switchyard-bench' });
  const workerPool = createPool(databaseUrl, {
    max: 10,
    application: 'switchyard-bench-worker',
    ...(genericPlans ? WORKER_CONNECTIONS.pool : {}),
  });
  await pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await applyMigrations(pool);
  for (const template of Object.values(templates)) await registerTemplate(pool, template);
  const redis = createRedisConnection(redisUrl);
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const deps: Deps = { pool, dispatcher: new StepDispatcher({ connection: redis, prefix }) };
  creator = inCreatorProcess ? startCreatorProcess(databaseUrl, redisUrl, prefix) : null;
  const worker = await startWorker({
    handlers: [defineStepHandler('noop', () => null)],
    pool: workerPool,
    redis,
    queuePrefix: prefix,
    concurrency: CONCURRENCY,
    eagerClaim,
    logger,
  });
  const slowWorker = await startWorker({
    handlers: [
      defineStepHandler(SLEEP_10MS, () => new Promise((resolve) => setTimeout(() => resolve(null), 10))),
    ],
    pool: workerPool,
    redis,
    queuePrefix: prefix,
    concurrency: SLOW_HANDLER_SLOTS,
    eagerClaim,
    logger,
  });
  const scheduler = await startScheduler({
    pool,
    databaseUrl,
    redis,
    queuePrefix: prefix,
    logger,
    breakerPolicies: limitEverySystem ? everySystem(GENEROUS_LIMIT) : {},
  });
  try {
    await warmUp(deps);
    for (let run = 0; run < repeat; run++) {
      if (runs('linear4')) await linear4Sequential(deps);
      if (runs('linear4')) await linear4Paced(deps);
      if (runs('registration_burst'))
        await burst(deps, 'registration_burst', 'registration', Math.round(2000 * scale), 5);
      if (runs('fanout50')) await burst(deps, 'fanout50', 'fanout50', Math.round(100 * scale), 52);
      if (runs('linear20')) await linear20(deps);
      if (runs('handler_10ms'))
        await burst(deps, 'handler_10ms', 'registration_10ms', Math.round(1000 * scale), 5);
      if (runs('bullmq_raw')) await bullmqRaw(Math.round(50_000 * scale), redisUrl, CONCURRENCY, sample);
    }
    if (runs('registration_burst')) await costPerStep(deps, redis);
    versions = await serverVersions(pool, redis);
  } finally {
    await creator?.stop();
    await worker.stop(0);
    await slowWorker.stop(0);
    await scheduler.stop();
    await deps.dispatcher.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    await pool.end();
    await workerPool.end();
    if (traces) {
      await traces.stop();
      console.log(`tracing: ${traces.batches()} export batches reached the collector`);
    }
  }
  summarize();
  const row = (scenario: string, metric: string) =>
    rows.find((r) => r.scenario === scenario && r.metric === metric);
  /** The burst's steps per second over another figure of the run, when both were measured. */
  const burstRatio = (metric: string, of: Row | undefined) => {
    const burstSteps = row('registration_burst', 'steps_per_s');
    if (burstSteps && of)
      rows.push({
        scenario: 'registration_burst',
        metric,
        unit: 'ratio',
        value: round(burstSteps.value / of.value),
      });
  };
  burstRatio('ratio_to_bullmq', row('bullmq_raw', 'jobs_per_s'));
  // Near 1, the machine's CPU bounds the burst; well below it, a wait does (a statement in
  // flight, a round trip, one busy process).
  burstRatio('cpu_ceiling_reached', row('registration_burst', 'cpu_ceiling_steps_per_s'));
  rows.push({
    scenario: 'process',
    metric: 'peak_rss_mb',
    unit: 'MB',
    value: round(process.resourceUsage().maxRSS / 1024),
  });
  report(versions);
}

const samples = new Map<string, number[]>();
function sample(scenario: string, metric: string, unit: string, value: number): void {
  const key = `${scenario}\u0000${metric}\u0000${unit}`;
  samples.set(key, [...(samples.get(key) ?? []), value]);
}

/**
 * Runs a first batch, then ANALYZE, so the scenarios measure a steady state. Without it the
 * hot statements, prepared once per connection, keep plans made while the tables were empty
 * until autovacuum's next analyze invalidates them (measured: 387 instead of ~1000 steps/s).
 */
async function warmUp(deps: Deps): Promise<void> {
  await waitForAll(deps.pool, await createMany(deps, templates.registration, 200, 20));
  await waitForAll(deps.pool, await createMany(deps, templates.fanout50, 5, 5));
  await deps.pool.query('ANALYZE');
}

async function linear4Sequential(deps: Deps): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < Math.max(20, Math.round(200 * scale)); i++) {
    const id = await create(deps, templates.linear4);
    await waitForAll(deps.pool, [id]);
    ids.push(id);
  }
  const ms = await latencies(deps.pool, ids);
  for (const p of [50, 95, 99]) sample('linear4', `latency_p${p}_ms`, 'ms', percentile(ms, p));
}

async function linear4Paced(deps: Deps): Promise<void> {
  const ids: string[] = [];
  const count = Math.max(20, Math.round(200 * scale));
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const due = start + i * 50; // 20 workflows/s
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
    ids.push(await create(deps, templates.linear4));
  }
  await waitForAll(deps.pool, ids);
  const ms = await latencies(deps.pool, ids);
  for (const p of [50, 95, 99]) sample('linear4_20rps', `latency_p${p}_ms`, 'ms', percentile(ms, p));
}

/**
 * A chain of 20 steps: each task's latency when it runs alone (20 one after the other: what a
 * deep workflow waits for step after step), then the steps per second of 100 chains at once.
 */
async function linear20(deps: Deps): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < Math.max(5, Math.round(20 * scale)); i++) {
    const id = await create(deps, templates.linear20);
    await waitForAll(deps.pool, [id]);
    ids.push(id);
  }
  const ms = await latencies(deps.pool, ids);
  for (const p of [50, 99]) sample('linear20', `latency_p${p}_ms`, 'ms', percentile(ms, p));
  await burst(deps, 'linear20_burst', 'linear20', Math.round(100 * scale), 20);
}

/**
 * `count` tasks of `template` created 20 at once, here or in the creator process: their ids, and
 * the creator process's CPU seconds and statements (0 when created here, where this process's own
 * counters count them).
 */
async function createBurst(
  deps: Deps,
  template: keyof typeof templates,
  count: number,
): Promise<{ ids: string[]; cpuSeconds: number; statements: number }> {
  if (creator) return creator.create(template, count, 20);
  return { ids: await createMany(deps, templates[template], count, 20), cpuSeconds: 0, statements: 0 };
}

async function burst(
  deps: Deps,
  scenario: string,
  template: keyof typeof templates,
  count: number,
  stepsPer: number,
) {
  const start = performance.now();
  // How busy this process was: it runs the worker and the scheduler, and the creators unless
  // --creator-process.
  const eventLoop = performance.eventLoopUtilization();
  const { ids } = await createBurst(deps, template, count);
  await waitForAll(deps.pool, ids);
  sample(
    scenario,
    'event_loop_utilization',
    'ratio',
    performance.eventLoopUtilization(eventLoop).utilization,
  );
  const seconds = (performance.now() - start) / 1000;
  sample(scenario, 'steps_per_s', 'steps/s', (count * stepsPer) / seconds);
  sample(scenario, 'workflows_per_s', 'workflows/s', count / seconds);
  const ms = await latencies(deps.pool, ids);
  for (const p of [50, 95, 99]) sample(scenario, `latency_p${p}_ms`, 'ms', percentile(ms, p));
}

/** Statements, commits, WAL flushes, CPU time and Redis commands per step, over one registration burst of 200. */
async function costPerStep(deps: Deps, redis: ReturnType<typeof createRedisConnection>): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = await snapshot(deps.pool, redis);
  const created = await createBurst(deps, 'registration', 200);
  const ids = created.ids;
  await waitForAll(deps.pool, ids);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // let every backend flush its stats
  const used = delta(before, await snapshot(deps.pool, redis));
  // Every Node process's part: with --creator-process, the creator's too.
  used.nodeCpu += created.cpuSeconds;
  used.statements += created.statements;
  const steps = ids.length * 5;
  rows.push({
    scenario: 'registration_burst',
    metric: 'pg_statements_per_step',
    unit: 'statements',
    value: round(used.statements / steps),
  });
  rows.push({
    scenario: 'registration_burst',
    metric: 'pg_commits_per_step',
    unit: 'commits',
    value: round(used.commits / steps),
  });
  rows.push({
    scenario: 'registration_burst',
    metric: 'pg_wal_flushes_per_step',
    unit: 'flushes',
    value: round(used.walFlushes / steps),
  });
  for (const [part, seconds] of [
    ['node', used.nodeCpu],
    ['postgres', used.postgresCpu],
    ['redis', used.redisCpu],
  ] as const) {
    rows.push({
      scenario: 'registration_burst',
      metric: `cpu_ms_per_step_${part}`,
      unit: 'ms',
      value: round((seconds * 1000) / steps),
    });
  }
  // The steps per second this CPU per step allows with every core of the machine busy.
  const cpuMsPerStep = ((used.nodeCpu + used.postgresCpu + used.redisCpu) * 1000) / steps;
  rows.push({
    scenario: 'registration_burst',
    metric: 'cpu_ceiling_steps_per_s',
    unit: 'steps/s',
    value: Math.round((cpus().length * 1000) / cpuMsPerStep),
  });
  rows.push({
    scenario: 'registration_burst',
    metric: 'redis_cmds_per_step',
    unit: 'commands',
    value: round(used.redisCommands / steps),
  });
}

async function deleteKeys(redis: ReturnType<typeof createRedisConnection>, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** The versions the figures were measured with, read from the running servers and packages. */
async function serverVersions(
  pool: Pool,
  redis: ReturnType<typeof createRedisConnection>,
): Promise<Record<string, string>> {
  const { rows } = await pool.query('SHOW server_version');
  const info = await redis.info('server');
  const require = createRequire(import.meta.url);
  return {
    bullmq: (require('bullmq/package.json') as { version: string }).version,
    postgres: rows[0].server_version as string,
    redis: info.match(/^redis_version:(\S+)/m)?.[1] ?? 'unknown',
  };
}

function summarize(): void {
  for (const [key, values] of samples) {
    const [scenario, metric, unit] = key.split('\u0000') as [string, string, string];
    record(scenario, metric, unit, values);
  }
}

function report(versions: Record<string, string>): void {
  rows.sort((a, b) => a.scenario.localeCompare(b.scenario));
  const lines = ['| scenario | metric | median | min | max | unit |', '|---|---|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| ${r.scenario} | ${r.metric} | ${r.value} | ${r.min ?? ''} | ${r.max ?? ''} | ${r.unit} |`);
  console.log(lines.join('\n'));
  const result = {
    date: new Date().toISOString(),
    repeat,
    quick,
    concurrency: CONCURRENCY,
    eager_claim: eagerClaim,
    tracing,
    log_level: logLevel,
    creator_process: inCreatorProcess,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memory_gb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    versions,
    results: rows,
  };
  const file = fileURLToPath(new URL('../results/latest.json', import.meta.url));
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

/** `policy` for every dependent system the bench's templates call. */
function everySystem<P>(policy: P): Record<string, P> {
  const systems = Object.values(templates).flatMap((template) =>
    template.steps.map((step) => step.dependent_system ?? template.default_dependent_system),
  );
  return Object.fromEntries([...new Set(systems)].filter(Boolean).map((system) => [system!, policy]));
}
