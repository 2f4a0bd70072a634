import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseTemplateYaml, type TaskTemplate } from '@switchyard/core';
import { createPool, type Pool, registerTemplate } from '@switchyard/db';
import {
  type CreateTaskRequest,
  createTask,
  type RunningScheduler,
  type RunningWorker,
  startScheduler,
  startWorker,
} from '@switchyard/engine';
import { type AllServices, startAllServices } from '@switchyard/example-user-registration/services';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis } from '@switchyard/testing';
import { logger, sleep } from './harness.ts';

const templateFile = fileURLToPath(
  new URL('../../examples/user-registration/templates/user_registration.yaml', import.meta.url),
);

/**
 * The registration template with short step timeouts and retry delays, so that lease expiry and
 * retries play out in seconds. Same DAG, same handlers, same context schema.
 */
export function fastRegistrationTemplate(): TaskTemplate {
  const template = parseTemplateYaml(readFileSync(templateFile, 'utf8'));
  return {
    ...template,
    version: `${template.version}-e2e`,
    steps: template.steps.map((step) => ({
      ...step,
      timeout_ms: 2_000,
      retry: { ...step.retry, backoff_base_ms: 100, backoff_cap_ms: 500 },
    })),
  };
}

export type Registration = {
  email: string;
  name: string;
  plan?: 'free' | 'pro' | 'enterprise';
  payment_method?: string;
  preferences?: { theme?: 'light' | 'dark'; email_digest?: 'daily' | 'weekly' | 'never' };
};

/**
 * The four example services on free ports, and a database, Redis prefix, worker and scheduler
 * running the real registration handlers against them. The handlers read the services' URLs from
 * the environment once, when their module is first imported: that import happens here, after
 * the services are listening.
 */
export async function startRegistrationFleet(
  options: { breakerPolicies?: Record<string, object>; inProcessWorker?: boolean } = {},
) {
  const services: AllServices = await startAllServices({ basePort: 0, rateLimitPerMinute: 1_000 });
  Object.assign(process.env, services.env);
  const { userRegistrationHandlers } = await import('@switchyard/example-user-registration/handlers');
  const database = await createTestDatabase();
  const testRedis = createTestRedis();
  const pool: Pool = createPool(database.url, { max: 10 });
  const redis = createRedisConnection(testRedis.url);
  const dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
  const template = fastRegistrationTemplate();
  await registerTemplate(pool, template);
  const worker: RunningWorker | null =
    options.inProcessWorker === false
      ? null
      : await startWorker({
          handlers: userRegistrationHandlers,
          pool,
          redis,
          queuePrefix: testRedis.prefix,
          logger,
          concurrency: 5,
        });
  const scheduler: RunningScheduler = await startScheduler({
    pool,
    databaseUrl: database.url,
    redis,
    queuePrefix: testRedis.prefix,
    logger,
    intervalMs: 100,
    dispatchGraceMs: 500,
    ...(options.breakerPolicies ? { breakerPolicies: options.breakerPolicies } : {}),
  });
  return {
    services,
    pool,
    database,
    prefix: testRedis.prefix,
    redisUrl: testRedis.url,
    dispatcher,
    /** What the engine's operator actions (cancelTask, retryStep, resolveStep) take. */
    operatorDeps: { pool, dispatcher, redis, queuePrefix: testRedis.prefix },
    template,
    register(context: Registration, extra: Partial<CreateTaskRequest> = {}) {
      const request = {
        namespace: template.namespace,
        name: template.name,
        version: template.version,
        context,
        ...extra,
      };
      return createTask({ pool, dispatcher }, request, 'test');
    },
    async waitForSettled(ids: string[], timeoutMs = 30_000): Promise<Record<string, string>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await pool.query('SELECT id, status FROM tasks WHERE id = ANY($1)', [ids]);
        if (rows.every((r) => ['complete', 'error', 'cancelled'].includes(r.status))) {
          return Object.fromEntries(rows.map((r) => [r.id, r.status]));
        }
        if (Date.now() > deadline) throw new Error(`tasks not settled: ${JSON.stringify(rows)}`);
        await sleep(50);
      }
    },
    async steps(taskId: string): Promise<
      Record<
        string,
        {
          status: string;
          results: Record<string, unknown> | null;
          last_error: Record<string, unknown> | null;
        }
      >
    > {
      const { rows } = await pool.query(
        'SELECT name, status, results, last_error FROM workflow_steps WHERE task_id = $1',
        [taskId],
      );
      return Object.fromEntries(
        rows.map((r) => [r.name, { status: r.status, results: r.results, last_error: r.last_error }]),
      );
    },
    async close() {
      await worker?.stop(0);
      await scheduler.stop();
      await dispatcher.close();
      redis.disconnect();
      await pool.end();
      await services.close();
      await testRedis.cleanup();
      await database.drop();
    },
  };
}

export type RegistrationFleet = Awaited<ReturnType<typeof startRegistrationFleet>>;
