import { envInt, envList, envUrl, parseEnv } from '@switchyard/config';
import { z } from 'zod';

/** Every setting of the worker process; nothing else reads process.env. */
export const WorkerEnvSchema = z
  .object({
    /** Postgres connection string. */
    DATABASE_URL: envUrl('postgresql://postgres@127.0.0.1:5432/switchyard'),
    /** Connections in this process's Postgres pool. */
    DATABASE_POOL_SIZE: envInt({ min: 1, max: 200, default: 10 }),
    /** Redis connection string (redis:// or rediss:// for TLS). */
    REDIS_URL: envUrl('redis://127.0.0.1:6379'),
    /** BullMQ key prefix shared by every process of one deployment. */
    SWITCHYARD_QUEUE_PREFIX: z.string().min(1).default('switchyard'),
    /** Comma-separated paths of modules exporting step handlers (the team's own code). */
    SWITCHYARD_HANDLER_MODULES: envList(),
    /** Comma-separated YAML template files or directories to register at start. */
    SWITCHYARD_TEMPLATE_PATHS: envList(),
    /** Step types (handler names) this worker consumes; empty means every loaded handler. */
    SWITCHYARD_STEP_TYPES: envList(),
    /** Attempts run at once per step type. */
    SWITCHYARD_CONCURRENCY: envInt({ min: 1, max: 1000, default: 10 }),
    /** Lease on a claimed attempt (ms), renewed every third of it while the handler runs. */
    SWITCHYARD_LEASE_MS: envInt({ min: 1000, max: 3_600_000, default: 15_000 }),
    /** Optional fixed worker id (default: hostname-pid-random). */
    SWITCHYARD_WORKER_ID: z.string().min(1).optional(),
    /** pino level: fatal, error, warn, info, debug, trace, silent. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    if (env.SWITCHYARD_HANDLER_MODULES.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['SWITCHYARD_HANDLER_MODULES'],
        message: 'at least one handler module path is required',
      });
    }
  });

export type WorkerEnv = z.output<typeof WorkerEnvSchema>;

export function loadWorkerEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseEnv(WorkerEnvSchema, env);
}
