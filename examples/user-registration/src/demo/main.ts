/**
 * The user-registration demo: the fleet as it runs in production, on one machine.
 *
 * Migrates, starts the four services, the API, the scheduler and two worker processes (one for
 * billing steps, one for the rest), enqueues registrations of every plan (enterprise ones get
 * SSO provisioned by the template's decision) through the typed client, takes
 * billing down partway and brings it back, then registers as many again while billing is ten
 * times slower (slowdown.ts), shows progress, and ends with a summary. Exit status 0 only when
 * every registration completed. When DATABASE_URL / REDIS_URL point at this machine
 * and nothing answers, it starts an embedded PostgreSQL (data in .switchyard/postgres) and a
 * redis-server from PATH for the run, and stops them at the end.
 *
 *   pnpm demo [--count 50] [--json]
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createSwitchyardClient, type SwitchyardClient } from '@switchyard/client';
import { commonEnvShape, parseEnvOrExit } from '@switchyard/config';
import { applyMigrations, createPool, ensureDatabase, type Pool } from '@switchyard/db';
import { ensureLocalPostgres, ensureLocalRedis, LocalInfraError } from '@switchyard/local-infra';
import { z } from 'zod';
import { type AllServices, startAllServices } from '../services/index.ts';
import { withDemoKey } from './demo-key.ts';
import { type FleetProcess, freePort, startApp, stopAll, waitUntilReady } from './processes.ts';
import { BILLING_SPEED, runSlowdownPhase } from './slowdown.ts';
import { type DemoSummary, printSummary, summarize } from './summary.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const { values: args } = parseArgs({
  options: { count: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } },
});
const count = Number(args.count);
if (!Number.isInteger(count) || count < 1 || count > 10_000) {
  console.error('--count must be an integer between 1 and 10000');
  process.exit(2);
}
const env = parseEnvOrExit(z.object(commonEnvShape));
// Progress goes to stderr with --json, so stdout carries the one summary object.
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
const handlerModule = fileURLToPath(new URL('../handlers.ts', import.meta.url));
const templatesDir = fileURLToPath(new URL('../../templates', import.meta.url));
const BILLING_POLICY = {
  consecutive_failures: 3,
  min_calls: 20,
  open_ms: 2_000,
  open_max_ms: 8_000,
  close_after_successes: 2,
  // Billing's limit: the calls in flight across the fleet, whatever its 16 billing slots. It is
  // adaptive: it starts at 16 and follows billing's health between 2 and 16 (billing works on two
  // requests at a time, so more calls in flight only queue inside it).
  max_concurrent: 16,
  adaptive: { min: 2, max: 16 },
};
const OTHER_STEP_TYPES = [
  'create_user_account',
  'initialize_preferences',
  'send_welcome_sequence',
  'choose_plan_features',
  'provision_sso',
  'update_user_status',
].join(',');

/** Where the fleet's Postgres and Redis are, after finding or starting them. */
type Infrastructure = { databaseUrl: string; redisUrl: string };

async function main(): Promise<number> {
  const infra = await ensureInfrastructure();
  try {
    return await runDemo(infra);
  } finally {
    await infra.stop();
  }
}

async function runDemo(infra: Infrastructure): Promise<number> {
  await ensureDatabase(infra.databaseUrl);
  await applyMigrations(infra.databaseUrl);
  const pool = createPool(infra.databaseUrl, { max: 4, application: 'switchyard-demo' });
  const services = await startAllServices({ basePort: 0, rateLimitPerMinute: 100_000 });
  services.billing.admin.setFaults(BILLING_SPEED);
  const fleet: FleetProcess[] = [];
  const runId = randomUUID().slice(0, 8);
  try {
    // The run's admin key is short-lived and revoked when the run ends, however it ends.
    return await withDemoKey(pool, `demo-${runId}`, async (key) => {
      const client = await startFleet(infra, { runId, key }, services, fleet);
      const receiver = await startWebhookReceiver(client);
      const summary = await run(pool, client, services, receiver).finally(() => receiver.close());
      if (args.json) console.log(JSON.stringify(summary));
      else printSummary(summary);
      return summary.completed === summary.total ? 0 : 1;
    });
  } finally {
    await stopAll(fleet);
    await services.close();
    await pool.end();
  }
}

/**
 * Postgres and Redis from DATABASE_URL / REDIS_URL, both settled before anything is created:
 * what answers is used; on this machine a missing one is started for the run (Redis first,
 * because it is quick and the embedded Postgres's first start takes seconds). When one can be
 * neither found nor started, the message says what to install or set, and the demo exits 2.
 */
async function ensureInfrastructure(): Promise<Infrastructure & { stop(): Promise<void> }> {
  const redis = await ensureLocalRedis({ redisUrl: env.REDIS_URL, log: say }).catch(exitWithAdvice);
  const postgres = await ensureLocalPostgres({ databaseUrl: env.DATABASE_URL, log: say }).catch(
    async (err: unknown) => {
      await redis.stop();
      return exitWithAdvice(err);
    },
  );
  return {
    databaseUrl: postgres.databaseUrl,
    redisUrl: redis.redisUrl,
    stop: async () => {
      await postgres.stop();
      await redis.stop();
    },
  };
}

/** A LocalInfraError's message says what to install or set: print just that and exit 2. */
function exitWithAdvice(err: unknown): never {
  if (!(err instanceof LocalInfraError)) throw err;
  console.error(err.message);
  process.exit(2);
}

async function startFleet(
  infra: Infrastructure,
  { runId: run, key }: { runId: string; key: string },
  services: AllServices,
  fleet: FleetProcess[],
): Promise<SwitchyardClient> {
  const port = await freePort();
  const common = {
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    SWITCHYARD_QUEUE_PREFIX: `${env.SWITCHYARD_QUEUE_PREFIX}-demo-${run}`,
    LOG_LEVEL: 'error',
    // The demo's webhook receiver listens on 127.0.0.1: the API and the scheduler must allow it.
    SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    ...services.env,
  };
  const worker = { SWITCHYARD_HANDLER_MODULES: handlerModule, SWITCHYARD_TEMPLATE_PATHS: templatesDir };
  fleet.push(
    startApp('scheduler', 'scheduler', {
      ...common,
      SWITCHYARD_SCHEDULER_INTERVAL_MS: '250',
      // The demo's phases last seconds: billing's limit is judged twice a second, on 5 s windows.
      SWITCHYARD_LIMIT_ADAPT_MS: '500',
      SWITCHYARD_BREAKER_POLICIES: JSON.stringify({ billing_service: BILLING_POLICY }),
    }),
    startApp('billing worker', 'worker', {
      ...common,
      ...worker,
      SWITCHYARD_STEP_TYPES: 'setup_billing_profile',
      // As many slots as an autoscaler might start: billing's limit, not the slots, caps its load.
      SWITCHYARD_CONCURRENCY: '16',
    }),
    startApp('worker', 'worker', { ...common, ...worker, SWITCHYARD_STEP_TYPES: OTHER_STEP_TYPES }),
  );
  const api = startApp('api', 'api', {
    ...common,
    SWITCHYARD_API_HOST: '127.0.0.1',
    SWITCHYARD_API_PORT: String(port),
  });
  fleet.push(api);
  await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, api);
  const client = createSwitchyardClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: key });
  await waitForTemplate(client, fleet);
  say(`fleet up: api on :${port}, scheduler, 2 worker processes (billing steps / the other six), 4 services`);
  say(await dashboardLine(`http://127.0.0.1:${port}`, key));
  return client;
}

/** Where to watch the run in the dashboard, or how to build it when the API has no build to serve. */
async function dashboardLine(apiUrl: string, key: string): Promise<string> {
  const page = await fetch(`${apiUrl}/ui/`).catch(() => null);
  return page?.ok
    ? `dashboard: ${apiUrl}/ui/ (API key for this run: ${key})`
    : 'dashboard: not built (pnpm dashboard:build), the API serves it at /ui/';
}

/** The workers register the template at start; wait for it before enqueueing. */
async function waitForTemplate(client: SwitchyardClient, fleet: FleetProcess[]): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const templates = await client.listTemplates().catch(() => []);
    if (templates.some((t) => t.name === 'user_registration')) return;
    const dead = fleet.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited:\n${dead.output().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the workers did not register the user_registration template');
}

// Every third registration is enterprise: choose_plan_features runs provision_sso for those
// and skips it for the others.
const PLANS = ['pro', 'enterprise', 'free'] as const;
/** How long the summary waits for the last task.completed deliveries after the tasks settled. */
const WEBHOOK_WAIT_MS = 30_000;

async function run(
  pool: Pool,
  client: SwitchyardClient,
  services: AllServices,
  receiver: WebhookReceiver,
): Promise<DemoSummary> {
  const started = Date.now();
  const ids: string[] = [];
  const register = async () => {
    const i = ids.length;
    const plan = PLANS[i % PLANS.length]!;
    const context = {
      email: `user${i}.${started}@example.com`,
      name: `User ${i}`,
      plan,
      payment_method: plan === 'free' ? undefined : `pm_${i}`,
    };
    const { task } = await client.createTask({
      namespace: 'user_management',
      name: 'user_registration',
      context,
    });
    ids.push(task.id);
    return task.id;
  };
  const progress = setInterval(() => void reportProgress(pool, client, ids, started), 1_000);
  const outage = { from: new Date(), to: new Date() };
  let slowdown: DemoSummary['slowdown'];
  try {
    for (let i = 0; i < count; i++) {
      if (i === Math.floor(count / 5)) {
        await services.billing.admin.down();
        outage.from = new Date();
        say(`billing is DOWN (after ${i} registrations were submitted)`);
        setTimeout(() => {
          void services.billing.admin.up().then(() => {
            outage.to = new Date();
            say('billing is back UP');
          });
        }, 6_000);
      }
      await register();
    }
    await waitForSettled(pool, ids, 180_000);
    if (outage.to < outage.from) outage.to = new Date();
    ({ summary: slowdown } = await runSlowdownPhase({
      pool,
      billing: services.billing,
      count,
      register,
      settle: (phaseIds) => waitForSettled(pool, phaseIds, 180_000),
      say,
    }));
  } finally {
    clearInterval(progress);
  }
  await reportProgress(pool, client, ids, started);
  const elapsedMs = Date.now() - started;
  const { rows } = await pool.query(`SELECT id FROM tasks WHERE id = ANY($1) AND status = 'complete'`, [ids]);
  const webhooks = await receiver.waitFor(
    rows.map((row) => row.id as string),
    WEBHOOK_WAIT_MS,
  );
  return { ...(await summarize(pool, ids, outage, new Date(started), elapsedMs)), slowdown, webhooks };
}

async function reportProgress(
  pool: Pool,
  client: SwitchyardClient,
  ids: string[],
  started: number,
): Promise<void> {
  const { rows } = await pool.query(
    'SELECT status, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY status',
    [ids],
  );
  const tasks = rows.map((r) => `${r.status}=${r.n}`).join(' ');
  const breakers = await client.listBreakers().catch(() => []);
  const billing = breakers.find((b) => b.dependentSystem === 'billing_service');
  const breaker = billing
    ? `billing breaker ${billing.state} (held ${billing.heldSteps})`
    : 'billing breaker closed';
  const limits = await client.listLimits().catch(() => []);
  const limit = limits.find((l) => l.dependentSystem === 'billing_service');
  const bulkhead = limit
    ? `  |  billing limit ${limit.limit.maxConcurrent ?? '-'}: in flight ${limit.inFlight}, waiting ${limit.waiting.concurrency + limit.waiting.rate}`
    : '';
  say(
    `t=${((Date.now() - started) / 1000).toFixed(1)}s  submitted=${ids.length}  ${tasks}  |  ${breaker}${bulkhead}`,
  );
}

async function waitForSettled(pool: Pool, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status IN ('complete', 'error', 'cancelled')`,
      [ids],
    );
    if (rows[0].n === ids.length || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
