import { commonEnvShape, parseEnvOrExit, schedulerEnvShape } from '@switchyard/config';
import { z } from 'zod';

/** Every setting of the scheduler process; nothing else reads process.env. */
export const SchedulerEnvSchema = z.object({ ...commonEnvShape, ...schedulerEnvShape });
export type SchedulerEnv = z.output<typeof SchedulerEnvSchema>;

export function loadSchedulerEnv(env: NodeJS.ProcessEnv = process.env): SchedulerEnv {
  return parseEnvOrExit(SchedulerEnvSchema, env);
}
