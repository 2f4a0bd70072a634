import { type BreakerPolicyInput, defineTemplate, type TaskTemplate } from '@switchyard/core';
import { createPool, listBreakers, type Pool, registerTemplate } from '@switchyard/db';
import {
  createTask,
  type RunningScheduler,
  type RunningWorker,
  startScheduler,
  startWorker,
} from '@switchyard/engine';
import { defineApiStepHandler } from '@switchyard/handler-kit';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis } from '@switchyard/testing';
import type { Redis } from 'ioredis';
import { startSwitchableService } from './fixtures/switchable-service.ts';
import { logger, waitFor } from './harness.ts';

/** Small numbers so an outage plays out in seconds: trip after 3 failures in a row, open 1 s, doubling. */
export const TEST_POLICY: BreakerPolicyInput = {
  consecutive_failures: 3,
  min_calls: 1_000,
  open_ms: 1_000,
  open_max_ms: 4_000,
  open_jitter: 0,
  half_open_max_probes: 1,
  close_after_successes: 2,
  release_initial: 5,
};

export type Service = Awaited<ReturnType<typeof startSwitchableService>>;

/** One handler per service: POST /work, with a fallback that answers plan defaults. */
export function callHandler(system: string) {
  return defineApiStepHandler({
    name: `call_${system}`,
    call: async (_ctx, http) => (await http.request({ method: 'POST', url: '/work', data: {} })).data,
    fallback: () => ({ plan_defaults: true }),
  });
}

export function callTemplate(
  system: string,
  url: string,
  options: { fallback?: boolean; maxAttempts?: number } = {},
): TaskTemplate {
  return defineTemplate({
    namespace: 'breakers',
    name: `needs_${system}${options.fallback ? '_or_fallback' : ''}`,
    version: '1.0.0',
    identity_strategy: 'unique',
    steps: [
      {
        name: 'call',
        handler: `call_${system}`,
        dependent_system: system,
        timeout_ms: 2_000,
        retry: { max_attempts: options.maxAttempts ?? 2, backoff_base_ms: 100, backoff_cap_ms: 200 },
        handler_config: { base_url: url },
        on_breaker_open: options.fallback ? 'fallback' : 'wait',
      },
    ],
  });
}

/** A database, a Redis prefix, services, and workers and schedulers that can be restarted. */
export async function startBreakerFleet(
  systems: string[],
  options: { schedulerIntervalMs?: number; concurrency?: number; policy?: BreakerPolicyInput } = {},
) {
  const database = await createTestDatabase();
  const testRedis = createTestRedis();
  const services = Object.fromEntries(
    await Promise.all(systems.map(async (s) => [s, await startSwitchableService()] as const)),
  );
  let pool: Pool = createPool(database.url, { max: 10 });
  let redis: Redis = createRedisConnection(testRedis.url);
  let dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
  let worker: RunningWorker | null = null;
  let scheduler: RunningScheduler | null = null;
  const templates = systems.flatMap((s) => [
    callTemplate(s, services[s]!.url),
    callTemplate(s, services[s]!.url, { fallback: true }),
  ]);
  for (const template of templates) await registerTemplate(pool, template);

  const start = async () => {
    worker = await startWorker({
      handlers: systems.map(callHandler),
      pool,
      redis,
      queuePrefix: testRedis.prefix,
      logger,
      concurrency: options.concurrency ?? 3,
    });
    scheduler = await startScheduler({
      pool,
      databaseUrl: database.url,
      redis,
      queuePrefix: testRedis.prefix,
      logger,
      intervalMs: options.schedulerIntervalMs ?? 100,
      dispatchGraceMs: 500,
      breakerPolicies: Object.fromEntries(systems.map((s) => [s, { ...TEST_POLICY, ...options.policy }])),
    });
  };
  const stop = async () => {
    await worker?.stop(0);
    await scheduler?.stop();
    await dispatcher.close();
    redis.disconnect();
    await pool.end();
  };
  await start();

  return {
    services,
    get pool() {
      return pool;
    },
    get scheduler() {
      return scheduler!;
    },
    async create(system: string, count: number, fallback = false): Promise<string[]> {
      const name = `needs_${system}${fallback ? '_or_fallback' : ''}`;
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        ids.push(
          (await createTask({ pool, dispatcher }, { namespace: 'breakers', name, context: { i } })).task.id,
        );
      }
      return ids;
    },
    /** Stops every worker and scheduler and their connections, then starts new ones. */
    async restart() {
      await stop();
      pool = createPool(database.url, { max: 10 });
      redis = createRedisConnection(testRedis.url);
      dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
      await start();
    },
    breaker: async (system: string) => (await listBreakers(pool, { dependentSystem: system }))[0]!,
    async statuses(ids: string[]): Promise<Record<string, number>> {
      const { rows } = await pool.query(
        'SELECT status, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY status',
        [ids],
      );
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    },
    waitUntil: waitFor,
    async close() {
      await stop();
      await Promise.all(Object.values(services).map((s) => s.close()));
      await testRedis.cleanup();
      await database.drop();
    },
  };
}

export type BreakerFleet = Awaited<ReturnType<typeof startBreakerFleet>>;
