import { defineTemplate, type TaskTemplate, type TaskTemplateInput } from '@switchyard/core';
import { type ClaimedStep, claimStepAttempts, createPool, type Pool, type StepSuccess } from '@switchyard/db';
import type { StepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis } from '@switchyard/testing';
import type { Redis } from 'ioredis';
import { type CreateTaskRequest, createTask } from '../src/create-task.ts';
import { registerTemplates } from '../src/templates.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';
import type { WorkerOptions } from '../src/worker-options.ts';

/** What a test may set on its worker (its own pool or logger included); the rest is the harness's. */
export type TestWorkerOptions = Partial<
  Omit<WorkerOptions, 'handlers' | 'templates' | 'redis' | 'queuePrefix'>
>;

/** A real Postgres database and Redis prefix for one test file, with a worker per test. */
export type EngineHarness = {
  pool: Pool;
  /** The test database's URL (a scheduler's leader election opens its own connection). */
  databaseUrl: string;
  redis: Redis;
  prefix: string;
  dispatcher: StepDispatcher;
  start(
    handlers: StepHandler[],
    templates: TaskTemplate[],
    options?: TestWorkerOptions,
  ): Promise<RunningWorker>;
  create(request: CreateTaskRequest): ReturnType<typeof createTask>;
  waitForTask(taskId: string, statuses?: string[], timeoutMs?: number): Promise<string>;
  steps(taskId: string): Promise<StepView[]>;
  attempts(taskId: string): Promise<AttemptView[]>;
  close(): Promise<void>;
};

export type StepView = {
  name: string;
  status: string;
  attempts: number;
  results: unknown;
  next_attempt_at: Date | null;
};
export type AttemptView = {
  step: string;
  attempt: number;
  outcome: string;
  error_class: string | null;
  error_code: string | null;
  retry_after_ms: number | null;
  stale: boolean;
  started_at: Date;
  finished_at: Date;
};

const logger = createLogger({ name: 'test', level: process.env.LOG_LEVEL ?? 'silent' });

export async function createEngineHarness(): Promise<EngineHarness> {
  const database = await createTestDatabase();
  const testRedis = createTestRedis();
  const pool = createPool(database.url, { max: 8 });
  const redis = testRedis.connection();
  const dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
  const workers: RunningWorker[] = [];
  return {
    pool,
    databaseUrl: database.url,
    redis,
    prefix: testRedis.prefix,
    dispatcher,
    async start(handlers, templates, options = {}) {
      await registerTemplates(pool, templates);
      const worker = await startWorker({
        handlers,
        pool,
        redis,
        queuePrefix: testRedis.prefix,
        logger,
        ...options,
      });
      workers.push(worker);
      return worker;
    },
    create: (request) => createTask({ pool, dispatcher }, request, 'test'),
    waitForTask: (taskId, statuses = ['complete', 'error', 'cancelled'], timeoutMs = 20_000) =>
      waitForTaskStatus(pool, taskId, statuses, timeoutMs),
    async steps(taskId) {
      const { rows } = await pool.query(
        'SELECT name, status, attempts, results, next_attempt_at FROM workflow_steps WHERE task_id = $1 ORDER BY name',
        [taskId],
      );
      return rows;
    },
    async attempts(taskId) {
      const { rows } = await pool.query(
        `SELECT s.name AS step, a.attempt, a.outcome, a.error_class, a.error_code, a.retry_after_ms, a.stale,
                a.started_at, a.finished_at
           FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
          WHERE a.task_id = $1 ORDER BY a.started_at, a.attempt`,
        [taskId],
      );
      return rows;
    },
    async close() {
      await Promise.all(workers.splice(0).map((worker) => worker.stop()));
      await dispatcher.close();
      await pool.end();
      await testRedis.cleanup();
      await database.drop();
    },
  };
}

async function waitForTaskStatus(
  pool: Pool,
  taskId: string,
  statuses: string[],
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Tolerate a failed poll: some tests terminate every connection on purpose.
    const result = await pool.query('SELECT status FROM tasks WHERE id = $1', [taskId]).catch(() => null);
    const status = result?.rows[0]?.status as string | undefined;
    if (status && statuses.includes(status)) return status;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${status} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let counter = 0;
/** A template with a unique name per call, so tests in one database never collide. */
export function testTemplate(input: Omit<TaskTemplateInput, 'namespace' | 'name' | 'version'>): TaskTemplate {
  counter += 1;
  return defineTemplate({
    namespace: 'test',
    name: `t${counter}`,
    version: '1.0.0',
    default_dependent_system: 'svc',
    ...input,
  });
}

/**
 * Claims the steps named `names` of the tasks `taskIds` for `worker`, each its next attempt, in
 * task then name order, as deliveries would; for tests that run the hot statements without a
 * worker. Every one must be claimable.
 */
export async function claimNamed(
  pool: Pool,
  worker: string,
  taskIds: string[],
  names: string[],
): Promise<ClaimedStep[]> {
  const { rows } = await pool.query(
    'SELECT id, attempts FROM workflow_steps WHERE task_id = ANY($1) AND name = ANY($2) ORDER BY task_id, name',
    [taskIds, names],
  );
  const claimed = await claimStepAttempts(
    pool,
    worker,
    rows.map((r) => ({ stepId: r.id, attempt: r.attempts + 1, leaseMs: 30_000 })),
  );
  return claimed.map((step) => step!);
}

/** The success of claimed `step` by `worker`, returning `results`, to record. */
export function successOf(step: ClaimedStep, worker: string, results: unknown): StepSuccess {
  return {
    record: {
      stepId: step.id,
      taskId: step.taskId,
      attempt: step.attempt,
      workerId: worker,
      dependentSystem: step.dependentSystem,
      startedAt: step.startedAt,
      finishedAt: new Date(),
      probe: false,
      fallback: false,
    },
    results,
  };
}
