import { commonEnvShape, parseEnv, workerEnvShape } from '@switchyard/config';
import { z } from 'zod';

/** Every setting of the worker process; nothing else reads process.env. */
export const WorkerEnvSchema = z.object({ ...commonEnvShape, ...workerEnvShape }).superRefine((env, ctx) => {
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
