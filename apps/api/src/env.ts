import { apiEnvShape, commonEnvShape, parseEnvOrExit } from '@switchyard/config';
import { z } from 'zod';

/** Every setting of the API process; nothing else reads process.env. */
export const ApiEnvSchema = z.object({ ...commonEnvShape, ...apiEnvShape });

export type ApiEnv = z.output<typeof ApiEnvSchema>;

export function loadApiEnv(env: NodeJS.ProcessEnv = process.env): ApiEnv {
  return parseEnvOrExit(ApiEnvSchema, env);
}
