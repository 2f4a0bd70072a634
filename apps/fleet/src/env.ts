import { commonEnvShape, parseEnv, schedulerEnvShape, workerEnvShape } from '@switchyard/config';
import { z } from 'zod';

/** The local fleet runs every role in one process, so it takes every role's settings. */
export const FleetEnvSchema = z
  .object({ ...commonEnvShape, ...workerEnvShape, ...schedulerEnvShape })
  .superRefine((env, ctx) => {
    if (env.SWITCHYARD_HANDLER_MODULES.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['SWITCHYARD_HANDLER_MODULES'],
        message: 'at least one handler module path is required',
      });
    }
  });

export type FleetEnv = z.output<typeof FleetEnvSchema>;

export function loadFleetEnv(env: NodeJS.ProcessEnv = process.env): FleetEnv {
  return parseEnv(FleetEnvSchema, env);
}
