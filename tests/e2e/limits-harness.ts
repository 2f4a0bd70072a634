import { fileURLToPath } from 'node:url';
import { defineTemplate, type ServiceLimitInput } from '@switchyard/core';
import { createPool, registerTemplate } from '@switchyard/db';
import { createTask, startScheduler } from '@switchyard/engine';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, startRedisServer } from '@switchyard/testing';
import { startLimitedService } from './fixtures/limited-service.ts';
import { logger, sleep, spawnWorkerProcess, type WorkerProcess } from './harness.ts';

const handlerModule = fileURLToPath(new URL('./fixtures/limit-handlers.ts', import.meta.url));
export const SYSTEM = 'limited_api';

/**
 * A database, a private redis-server (a test may FLUSHALL it), the limited service, a scheduler
 * in this process configured with `limit` for the service's system, and worker processes.
 */
export async function startLimitFleet(options: {
  limit: ServiceLimitInput;
  holdMs: number;
  timeoutMs?: number;
  /** How often the scheduler judges an adaptive limit (ms). */
  limitAdaptMs?: number;
  /** Namespaces the template is registered in (each namespace's tasks are its own); default `limits`. */
  namespaces?: string[];
}) {
  const database = await createTestDatabase();
  const redisServer = await startRedisServer();
  const pool = createPool(database.url, { max: 10 });
  const redis = createRedisConnection(redisServer.url);
  redis.on('error', () => {});
  const prefix = 'limits';
  const dispatcher = new StepDispatcher({ connection: redis, prefix });
  const service = await startLimitedService({ holdMs: options.holdMs });
  const scheduler = await startScheduler({
    pool,
    databaseUrl: database.url,
    redis,
    queuePrefix: prefix,
    logger,
    intervalMs: 200,
    dispatchGraceMs: 500,
    breakerPolicies: { [SYSTEM]: options.limit },
    ...(options.limitAdaptMs ? { limitAdaptMs: options.limitAdaptMs } : {}),
  });
  for (const namespace of options.namespaces ?? ['limits']) {
    const template = defineTemplate({
      namespace,
      name: 'call_limited_api',
      version: '1.0.0',
      identity_strategy: 'unique',
      steps: [
        {
          name: 'call',
          handler: 'call_limited',
          dependent_system: SYSTEM,
          timeout_ms: options.timeoutMs ?? 5_000,
          retry: { max_attempts: 3, backoff_base_ms: 100, backoff_cap_ms: 200 },
          handler_config: { base_url: service.url },
        },
      ],
    });
    await registerTemplate(pool, template);
  }
  const workers: WorkerProcess[] = [];
  return {
    pool,
    redis,
    scheduler,
    service,
    spawnWorker(env: Record<string, string> = {}) {
      const worker = spawnWorkerProcess({
        DATABASE_URL: database.url,
        REDIS_URL: redisServer.url,
        SWITCHYARD_QUEUE_PREFIX: prefix,
        SWITCHYARD_HANDLER_MODULES: handlerModule,
        SWITCHYARD_CONCURRENCY: '10',
        SWITCHYARD_LEASE_MS: '1500',
        LOG_LEVEL: 'warn',
        ...env,
      });
      workers.push(worker);
      return worker;
    },
    async createTasks(count: number, namespace = 'limits'): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const { task } = await createTask(
          { pool, dispatcher },
          { namespace, name: 'call_limited_api', context: { i } },
        );
        ids.push(task.id);
      }
      return ids;
    },
    async waitForTasks(ids: string[], timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await pool.query(
          'SELECT status, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY status',
          [ids],
        );
        const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
        if (counts.complete === ids.length) return;
        if (Date.now() > deadline)
          throw new Error(`tasks not complete after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
        await sleep(100);
      }
    },
    /** Per step: attempts made, and its step_attempts rows. */
    async attempts(ids: string[]) {
      const { rows } = await pool.query(
        `SELECT s.attempts, (SELECT count(*)::int FROM step_attempts a WHERE a.step_id = s.id) AS rows
           FROM workflow_steps s WHERE s.task_id = ANY($1)`,
        [ids],
      );
      return rows as { attempts: number; rows: number }[];
    },
    /** Audit rows of steps held by the limit, by reason. */
    async limitHolds(ids: string[]) {
      const { rows } = await pool.query(
        `SELECT reason, count(*)::int AS n FROM step_transitions
          WHERE task_id = ANY($1) AND to_status = 'held' GROUP BY reason`,
        [ids],
      );
      return Object.fromEntries(rows.map((r) => [r.reason, r.n])) as Record<string, number>;
    },
    workerOutput: () => workers.map((w) => w.output()).join('\n'),
    async close() {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await Promise.all(workers.map((worker) => worker.exited));
      await scheduler.stop();
      await dispatcher.close();
      redis.disconnect();
      await pool.end();
      await service.close();
      await redisServer.stop();
      await database.drop();
    },
  };
}
export type LimitFleet = Awaited<ReturnType<typeof startLimitFleet>>;
