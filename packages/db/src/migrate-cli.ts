/**
 * `pnpm db:migrate`: creates the database named by DATABASE_URL if it is missing, then applies
 * prisma/migrations. Prints one JSON line per applied migration; exits 1 with the reason on failure.
 */
import { applyMigrations, ensureDatabase, type MigrationLogger } from './migrator.ts';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/switchyard';

function logLine(level: 'info' | 'error', obj: object, msg: string): void {
  const line = JSON.stringify({
    level,
    time: new Date().toISOString(),
    name: 'switchyard-migrate',
    msg,
    ...obj,
  });
  (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

const logger: MigrationLogger = { info: (obj, msg = '') => logLine('info', obj, msg) };

/** The URL without its password, fit for a log line. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const database = redactedUrl(url);

async function main(): Promise<void> {
  if (await ensureDatabase(url)) logger.info({ database }, 'database created');
  const { applied } = await applyMigrations(url, { logger });
  logger.info(
    { database, applied: applied.length },
    applied.length ? 'migrations applied' : 'database is up to date',
  );
}

main().catch((err: unknown) => {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (err as { code?: string }).code;
  logLine(
    'error',
    { database, err: { type: e.name, code, message: e.message } },
    `migrate failed: ${e.message || code}`,
  );
  process.exitCode = 1;
});
