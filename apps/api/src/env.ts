import { apiEnvShape, commonEnvShape, envInt, parseEnvOrExit } from '@switchyard/config';
import { z } from 'zod';

/** How long the API waits for a client and for its dependencies; see compileTimeouts. */
const apiTimeoutShape = {
  /** A request's headers must all arrive within this (ms); otherwise 408 and the connection is closed. */
  SWITCHYARD_API_HEADERS_TIMEOUT_MS: envInt({ min: 100, max: 3_600_000, default: 10_000 }),
  /** A whole request, headers and body, must arrive within this (ms): a trickled body gets 408 and is cut off. */
  SWITCHYARD_API_REQUEST_TIMEOUT_MS: envInt({ min: 100, max: 3_600_000, default: 30_000 }),
  /** A connection with no traffic either way for this long is closed (ms), even mid-request: the last resort. */
  SWITCHYARD_API_IDLE_TIMEOUT_MS: envInt({ min: 100, max: 3_600_000, default: 60_000 }),
  /** Longest wait for a Postgres connection (ms); a request that gets none answers 503. */
  SWITCHYARD_API_DATABASE_CONNECT_TIMEOUT_MS: envInt({ min: 100, max: 600_000, default: 5_000 }),
  /** Postgres cancels an API statement that runs longer (ms; lock waits included); the request answers 503. */
  SWITCHYARD_API_STATEMENT_TIMEOUT_MS: envInt({ min: 100, max: 3_600_000, default: 10_000 }),
  /** Longest wait for Redis (ms): connect, each command, a dispatch, a queue read. */
  SWITCHYARD_API_REDIS_TIMEOUT_MS: envInt({ min: 100, max: 600_000, default: 2_000 }),
  /** How often the process's one tail of the event log reads it while a task event stream is open (ms). */
  SWITCHYARD_API_EVENT_POLL_MS: envInt({ min: 10, max: 60_000, default: 200 }),
};

/** Every setting of the API process; nothing else reads process.env. */
export const ApiEnvSchema = z
  .object({ ...commonEnvShape, ...apiEnvShape, ...apiTimeoutShape })
  .superRefine((env, ctx) => {
    // Node refuses a server whose headers timeout exceeds its request timeout.
    if (env.SWITCHYARD_API_HEADERS_TIMEOUT_MS > env.SWITCHYARD_API_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['SWITCHYARD_API_HEADERS_TIMEOUT_MS'],
        message: 'must not exceed SWITCHYARD_API_REQUEST_TIMEOUT_MS',
      });
    }
  });

export type ApiEnv = z.output<typeof ApiEnvSchema>;

export function loadApiEnv(env: NodeJS.ProcessEnv = process.env): ApiEnv {
  return parseEnvOrExit(ApiEnvSchema, env);
}
