import { commonEnvShape, parseEnvOrExit, schedulerEnvShape, workerEnvShape } from '@switchyard/config';
import { z } from 'zod';

/** The local fleet runs every role in one process, so it takes every role's settings. */
export const FleetEnvSchema = z.object({ ...commonEnvShape, ...workerEnvShape, ...schedulerEnvShape });

export type FleetEnv = z.output<typeof FleetEnvSchema>;

export function loadFleetEnv(env: NodeJS.ProcessEnv = process.env): FleetEnv {
  return parseEnvOrExit(FleetEnvSchema, env);
}
