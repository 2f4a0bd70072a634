import { commonEnvShape, envUrl, parseEnv } from '@switchyard/config';
import { z } from 'zod';

/**
 * Every setting of the CLI; nothing else reads process.env. Database commands (migrate,
 * templates sync, keys) use DATABASE_URL; task and breaker commands go through the API.
 */
export const CliEnvSchema = z.object({
  ...commonEnvShape,
  /** Base URL of the Switchyard API for task, template and breaker commands. */
  SWITCHYARD_API_URL: envUrl('http://127.0.0.1:8080'),
  /** API key for those commands (`switchyard keys create` makes one). */
  SWITCHYARD_API_KEY: z.string().min(1).optional(),
});

export type CliEnv = z.output<typeof CliEnvSchema>;

/** Parses the CLI's env; throws EnvConfigError listing every bad variable. */
export function loadCliEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  return parseEnv(CliEnvSchema, env);
}
