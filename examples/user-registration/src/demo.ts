/**
 * The user-registration demo: four real HTTP services, a worker and a scheduler in this
 * process, and a batch of registrations that meet the services' failure modes on the way
 * (a flaky billing service, a rate-limited notification service, a paid plan without a payment
 * method, a repeated signup). Prints what happened and exits.
 *
 *   pnpm demo            (DEMO_REGISTRATIONS=12 by default)
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { commonEnvShape, envInt, parseEnv } from '@switchyard/config';
import { stepOrder } from '@switchyard/core';
import { createPool, findTasksNeedingAttention, findTemplate, type Pool } from '@switchyard/db';
import { createTask, loadTemplateFiles, startScheduler, startWorker } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { z } from 'zod';
import { userRegistrationHandlers } from './handlers.ts';
import { type AllServices, startAllServices } from './services/index.ts';

const env = parseEnv(
  z.object({
    ...commonEnvShape,
    /** How many registrations the demo submits. */
    DEMO_REGISTRATIONS: envInt({ min: 4, max: 10_000, default: 12 }),
    LOG_LEVEL: commonEnvShape.LOG_LEVEL.default('warn'),
  }),
  process.env,
);
const logger = createLogger({ name: 'switchyard-demo', level: env.LOG_LEVEL, pretty: true });
const templatesDir = fileURLToPath(new URL('../templates', import.meta.url));

type Registration = {
  email: string;
  name: string;
  plan: 'free' | 'pro' | 'enterprise';
  payment_method?: string;
  marketing_opt_in?: boolean;
};

/** A mix of plans, one paid plan without a payment method, and one signup submitted twice. */
function registrations(count: number, run: string): Registration[] {
  const plans = ['free', 'pro', 'enterprise'] as const;
  return Array.from({ length: count }, (_, i) => {
    const plan = plans[i % plans.length]!;
    const registration: Registration = {
      email: `user${i + 1}+${run}@example.com`,
      name: `User ${i + 1}`,
      plan,
    };
    if (plan !== 'free' && i !== 1) registration.payment_method = `pm_${i + 1}`;
    return registration;
  });
}

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const services = await startAllServices({ basePort: 7101 });
  injectFaults(services);
  const pool = createPool(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE, application: 'switchyard-demo' });
  const redis = createRedisConnection(env.REDIS_URL);
  const queuePrefix = `${env.SWITCHYARD_QUEUE_PREFIX}-demo`;
  const templates = await loadTemplateFiles([templatesDir]);
  const worker = await startWorker({
    handlers: userRegistrationHandlers,
    templates,
    pool,
    redis,
    queuePrefix,
    logger,
  });
  const scheduler = await startScheduler({ pool, databaseUrl: env.DATABASE_URL, redis, queuePrefix, logger });
  const dispatcher = new StepDispatcher({ connection: redis, prefix: queuePrefix });
  try {
    const started = Date.now();
    const ids = await submit(pool, dispatcher, registrations(env.DEMO_REGISTRATIONS, run));
    await waitForAll(pool, ids);
    await report(pool, ids, services, Date.now() - started);
  } finally {
    await worker.stop();
    await scheduler.stop();
    await dispatcher.close();
    redis.disconnect();
    await pool.end();
    await services.close();
  }
}

function injectFaults(services: AllServices): void {
  // Billing answers 503 twice, then recovers: two steps retry with backoff.
  services.billing.admin.setFaults({ sequence: [503, 503] });
  // The first welcome call is rate limited for 1 s: that step waits exactly that long.
  services.notification.admin.setFaults({ sequence: [429], retryAfter: 1 });
  services.preferences.admin.setFaults({ latencyMs: 30 });
}

async function submit(pool: Pool, dispatcher: StepDispatcher, batch: Registration[]): Promise<string[]> {
  const create = (context: Registration) =>
    createTask(
      { pool, dispatcher },
      { namespace: 'user_management', name: 'user_registration', context, initiator: 'demo' },
    );
  const ids: string[] = [];
  for (const context of batch) ids.push((await create(context)).task.id);
  // The same signup submitted again: strict identity answers with the first task.
  const again = await create(batch[0]!);
  // The same person signing up again (another context, same email, name and plan): a new task
  // whose create step meets the user service's 409 and carries on with the account, already_exists.
  const returning = await create({ ...batch[0]!, marketing_opt_in: true });
  // The same email with another plan: a permanent USER_CONFLICT, and no later service is called.
  const conflicting = await create({
    ...batch[0]!,
    plan: batch[0]!.plan === 'pro' ? 'free' : 'pro',
    payment_method: 'pm_x',
  });
  ids.push(returning.task.id, conflicting.task.id);
  console.log(`submitted ${batch.length} new users, then the first one three more times:`);
  console.log(
    `  an identical repeat returned the first task (duplicate: ${again.duplicate && again.task.id === ids[0]})`,
  );
  console.log('  the same person again makes a new task that meets the 409 path (already_exists)');
  console.log('  the same email with another plan makes a task that fails with USER_CONFLICT');
  return ids;
}

async function waitForAll(pool: Pool, ids: string[]): Promise<void> {
  for (;;) {
    const { rows } = await pool.query(
      `SELECT count(*) FILTER (WHERE status IN ('complete', 'error', 'cancelled'))::int AS done FROM tasks WHERE id = ANY($1)`,
      [ids],
    );
    if (rows[0].done === ids.length) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function report(pool: Pool, ids: string[], services: AllServices, elapsedMs: number): Promise<void> {
  const { rows } = await pool.query(
    `SELECT t.id, t.context->>'email' AS email, t.context->>'plan' AS plan, t.status,
            json_object_agg(s.name, json_build_object('status', s.status, 'attempts', s.attempts,
                                                      'existing', s.results->'existing', 'skipped', s.results->'skipped',
                                                      'error', s.last_error->>'code')) AS steps
       FROM tasks t JOIN workflow_steps s ON s.task_id = t.id
      WHERE t.id = ANY($1) GROUP BY t.id ORDER BY t.created_at`,
    [ids],
  );
  console.log(`\nall ${ids.length} registrations settled in ${elapsedMs} ms\n`);
  const order = stepOrder(
    (await findTemplate(pool, { namespace: 'user_management', name: 'user_registration' }))!.template,
  );
  for (const row of rows) {
    console.log(`${row.status.padEnd(9)} ${row.plan.padEnd(10)} ${row.email}`);
    console.log(`          ${order.map((name) => describeStep(name, row.steps[name])).join('  ')}`);
  }
  console.log('\nservice calls vs side effects (idempotency keys make retries safe):');
  for (const kind of ['user', 'billing', 'preferences', 'notification'] as const) {
    for (const [endpoint, c] of Object.entries(services[kind].admin.counters().endpoints)) {
      console.log(
        `  ${kind.padEnd(13)} ${endpoint.padEnd(28)} calls=${c.calls} side_effects=${c.sideEffects} injected_faults=${c.injected}`,
      );
    }
  }
  const attention = (await findTasksNeedingAttention(pool)).filter((t) => ids.includes(t.taskId));
  console.log(`\nneeds an operator: ${attention.length} task(s)`);
  for (const task of attention) {
    for (const step of task.steps) {
      const last = step.history.at(-1);
      console.log(
        `  ${task.taskId} ${step.name}: ${last?.outcome} ${last?.errorCode ?? ''} ${last?.message ?? ''}`,
      );
    }
  }
}

type StepSummary = {
  status: string;
  attempts: number;
  existing: boolean | null;
  skipped: boolean | null;
  error: string | null;
};

/** `setup_billing_profile:complete×3` — the attempt count only when there was more than one. */
function describeStep(name: string, step: StepSummary): string {
  const notes = [
    step.attempts > 1 ? `×${step.attempts}` : '',
    step.existing ? ' (existing)' : '',
    step.skipped ? ' (skipped)' : '',
    step.status === 'error' && step.error ? ` (${step.error})` : '',
  ];
  return `${name}:${step.status}${notes.join('')}`;
}

main().then(
  () => process.exit(0),
  (err) => {
    logger.fatal({ err }, 'demo failed');
    process.exit(1);
  },
);
