import { createSwitchyardClient, type SwitchyardClient } from '@switchyard/client';
import { createPool, type Pool } from '@switchyard/db';
import type { CliEnv } from './env.ts';
import type { Io } from './output.ts';

/** What every command gets: its settings, where to write, and lazily made connections. */
export type CliContext = {
  env: CliEnv;
  io: Io;
  /** The status the process exits with when the command returns (errors decide their own). */
  exitCode: number;
  /** The API client (SWITCHYARD_API_URL, SWITCHYARD_API_KEY). */
  client(): SwitchyardClient;
  /** DATABASE_URL, checked to name Postgres (only the database commands need it). */
  databaseUrl(): string;
  /** A small pool on DATABASE_URL, ended by `close`. */
  pool(): Pool;
  close(): Promise<void>;
};

export function createCliContext(env: CliEnv, io: Io): CliContext {
  let pool: Pool | undefined;
  return {
    env,
    io,
    exitCode: 0,
    client: () =>
      createSwitchyardClient({
        baseUrl: env.SWITCHYARD_API_URL,
        ...(env.SWITCHYARD_API_KEY ? { apiKey: env.SWITCHYARD_API_KEY } : {}),
      }),
    databaseUrl: () => postgresUrl(env.DATABASE_URL),
    pool: () => {
      pool ??= createPool(postgresUrl(env.DATABASE_URL), { max: 2, application: 'switchyard-cli' });
      return pool;
    },
    close: async () => {
      await pool?.end();
    },
  };
}

/**
 * The env schema makes sure DATABASE_URL is a URL; a database command also needs it to name
 * Postgres, or node-postgres would try to reach whatever host an `http://` URL names.
 */
function postgresUrl(url: string): string {
  const { protocol } = new URL(url);
  if (protocol === 'postgresql:' || protocol === 'postgres:') return url;
  throw new UsageError(
    `DATABASE_URL must be a postgresql:// URL (got a ${protocol} URL); set it to the Postgres to use`,
  );
}

/** Prints `value` as JSON with `--json`, else its human rendering. */
export function print(ctx: CliContext, json: boolean | undefined, value: unknown, human: () => string): void {
  ctx.io.out(json ? JSON.stringify(value, null, 2) : human());
}

/** Parses a JSON option, naming the option when it is not JSON. */
export function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--${name} must be JSON: ${(err as Error).message}`);
  }
}

/** Bad arguments or settings, found by the CLI itself: exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
