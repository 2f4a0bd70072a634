import { commonEnvShape, parseEnvOrExit, workerEnvShape } from '@switchyard/config';
import { z } from 'zod';

/** Every setting of the worker process; nothing else reads process.env. */
export const WorkerEnvSchema = z.object({ ...commonEnvShape, ...workerEnvShape });

export type WorkerEnv = z.output<typeof WorkerEnvSchema>;

export function loadWorkerEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseEnvOrExit(WorkerEnvSchema, env);
}
