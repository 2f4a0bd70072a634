/**
 * Applies prisma/migrations/<name>/migration.sql in name order and records each one in Prisma's
 * own `_prisma_migrations` table, because `prisma migrate` needs a schema-engine binary that
 * cannot be downloaded here. The history is kept exactly as Prisma keeps it, so
 * `prisma migrate deploy` (or `migrate status`) run later, where the engine is available, sees
 * these migrations as applied and carries on from there.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * The session advisory lock held for a whole run. It is the key Prisma's schema engine takes
 * for `migrate deploy` (72707369, "a unique number we chose to identify Migrate"), so our
 * replicas starting together, and a `prisma migrate deploy` run beside them, apply one at a time.
 */
export const MIGRATION_LOCK_KEY = 72707369;

/**
 * The migrations this code was released with. Run from the workspace's TypeScript sources they
 * are the repository's prisma/migrations (packages/db/src → repo root); the published package
 * carries a copy in its own `migrations` folder (dist/ → package root), made when it is packed.
 */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(
  import.meta.url.endsWith('.ts')
    ? new URL('../../../prisma/migrations/', import.meta.url)
    : new URL('../migrations/', import.meta.url),
);

/** One migration folder: its name (the folder) and the SQL with its sha256, as Prisma computes it. */
export type Migration = { name: string; sql: string; checksum: string };

/** The part of a pino logger the migrator uses. */
export type MigrationLogger = { info(obj: object, msg?: string): void };

export type MigrateOptions = {
  /** Folder holding `<name>/migration.sql` folders. Default {@link DEFAULT_MIGRATIONS_DIR}. */
  migrationsDir?: string;
  /** Receives one `info` line per applied migration. Default: silent. */
  logger?: MigrationLogger;
  /** How long to wait for another run's lock before failing (ms). Default 120 000. */
  lockTimeoutMs?: number;
};

/** A pool to borrow one connection from, or a connection string to open one. */
export type MigrationTarget = pg.Pool | string;

/** A migration could not be applied, or the recorded history disagrees with the files. */
export class MigrationError extends Error {
  override name = 'MigrationError';
  /** The folder name of the migration concerned. */
  readonly migration: string;

  constructor(message: string, migration: string, options?: ErrorOptions) {
    super(message, options);
    this.migration = migration;
  }
}

// Prisma's schema engine creates exactly this table (sql-migration-connector, postgres flavour).
const HISTORY_TABLE_DDL = `
CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

type HistoryRow = {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
};

/** Reads every `<dir>/<name>/migration.sql` in name order (the order Prisma applies them in). */
export async function listMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  names.sort();
  return Promise.all(names.map((name) => readMigration(dir, name)));
}

async function readMigration(dir: string, name: string): Promise<Migration> {
  const bytes = await readFile(join(dir, name, 'migration.sql')).catch((err: unknown) => {
    throw new MigrationError(`migration ${name} has no readable migration.sql`, name, { cause: err });
  });
  // Prisma's checksum is the lowercase hex sha256 of the file's bytes.
  return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * Applies the migrations not yet recorded, each in its own transaction together with its history
 * row, while holding {@link MIGRATION_LOCK_KEY}. Safe to run from several processes at once: the
 * later ones wait, then find nothing left to do.
 *
 * A migration therefore must not contain statements that refuse to run in a transaction
 * (`CREATE INDEX CONCURRENTLY`, `ALTER TYPE ... ADD VALUE` used in the same migration).
 *
 * @returns the names applied by this call, in order (empty when the database was up to date).
 * @throws MigrationError naming the migration when one fails (it is rolled back, with Postgres's
 *   message), when an applied migration's file was edited since (checksum differs), or when the
 *   history holds a failed Prisma run that must be resolved first.
 */
export async function applyMigrations(
  target: MigrationTarget,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const migrations = await listMigrations(options.migrationsDir);
  return withConnection(target, async (client) => {
    await lockMigrations(client, options.lockTimeoutMs ?? 120_000);
    try {
      await client.query(HISTORY_TABLE_DDL);
      const pending = unappliedMigrations(migrations, await readHistory(client));
      for (const migration of pending) await applyOne(client, migration, options.logger);
      return { applied: pending.map((migration) => migration.name) };
    } finally {
      // If this fails the connection is gone, and the lock with its session.
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  });
}

/**
 * Names of the migrations in the folder that the database has not applied yet, for readiness
 * checks. Reads only: no lock, and no history table is created.
 *
 * @throws MigrationError when an applied migration's file was edited since it was applied.
 */
export async function pendingMigrations(
  target: MigrationTarget,
  options: Pick<MigrateOptions, 'migrationsDir'> = {},
): Promise<string[]> {
  const migrations = await listMigrations(options.migrationsDir);
  const history = await withConnection(
    target,
    async (client) => {
      const { rows } = await client.query(`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present`);
      return rows[0]?.present ? readHistory(client) : [];
    },
    { keep: true },
  );
  return unappliedMigrations(migrations, history).map((migration) => migration.name);
}

async function readHistory(client: pg.ClientBase): Promise<HistoryRow[]> {
  const { rows } = await client.query<HistoryRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at',
  );
  return rows;
}

/**
 * The migrations still to apply, after checking the history against the files the way
 * `prisma migrate` does: rows marked rolled back do not count as applied; a row that never
 * finished is a failed Prisma run that an operator must resolve (Prisma's P3009).
 */
function unappliedMigrations(migrations: Migration[], history: HistoryRow[]): Migration[] {
  const live = history.filter((row) => row.rolled_back_at === null);
  const failed = live.find((row) => row.finished_at === null);
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migration_name} started but never finished in an earlier run; fix the database, then ` +
        `mark it with \`prisma migrate resolve\` or delete its _prisma_migrations row`,
      failed.migration_name,
    );
  }
  const applied = new Map(live.map((row) => [row.migration_name, row.checksum]));
  for (const migration of migrations) {
    const checksum = applied.get(migration.name);
    if (checksum !== undefined && checksum !== migration.checksum) {
      throw new MigrationError(
        `migration ${migration.name} was edited after it was applied (recorded checksum ${checksum}, file has ` +
          `${migration.checksum}); add a new migration instead of changing an applied one`,
        migration.name,
      );
    }
  }
  return migrations.filter((migration) => !applied.has(migration.name));
}

async function applyOne(
  client: pg.ClientBase,
  migration: Migration,
  logger?: MigrationLogger,
): Promise<void> {
  const started = performance.now();
  await client.query('BEGIN');
  try {
    await client.query(migration.sql);
    // started_at takes its default now(), the transaction's start; applied_steps_count is 1 as
    // Prisma writes it once a migration's script has run.
    await client.query(
      `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
       VALUES ($1, $2, clock_timestamp(), $3, 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw new MigrationError(
      `migration ${migration.name} failed: ${describePgError(err, migration.sql)}`,
      migration.name,
      {
        cause: err,
      },
    );
  }
  const durationMs = Math.round(performance.now() - started);
  logger?.info(
    { migration: migration.name, checksum: migration.checksum, duration_ms: durationMs },
    'migration applied',
  );
}

/** Postgres's message, with the SQLSTATE and the line of migration.sql it points at, when known. */
function describePgError(err: unknown, sql: string): string {
  const e = err as { message?: string; code?: string; position?: string };
  const message = e?.message ?? String(err);
  const where = e?.position ? `, line ${sql.slice(0, Number(e.position)).split('\n').length}` : '';
  return e?.code ? `${message} (SQLSTATE ${e.code}${where})` : message;
}

/** Waits for the migration lock, failing with a clear message rather than hanging forever. */
async function lockMigrations(client: pg.ClientBase, timeoutMs: number): Promise<void> {
  // lock_timeout bounds the wait for an advisory lock too; it is reset at once so that it does
  // not apply to the migrations themselves.
  await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${timeoutMs}ms`]);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  } catch (err) {
    const message = `another migration run held the migration lock (${MIGRATION_LOCK_KEY}) for more than ${timeoutMs} ms`;
    throw new MigrationError(message, '(lock)', { cause: err });
  } finally {
    await client.query('RESET lock_timeout');
  }
}

/**
 * Runs `fn` on one dedicated connection. A pooled connection is destroyed afterwards instead of
 * returned (unless `keep`: read-only use), so no session state (the advisory lock, a setting, an
 * aborted transaction) can leak to the pool's other users; migrating happens once per process
 * start, so this costs nothing.
 */
async function withConnection<T>(
  target: MigrationTarget,
  fn: (client: pg.ClientBase) => Promise<T>,
  { keep = false } = {},
): Promise<T> {
  if (typeof target !== 'string') {
    const client = await target.connect();
    // Checked out, the client has no pool error listener; a dropped connection also rejects
    // the query in flight, which is what gets reported.
    const ignore = () => {};
    client.on('error', ignore);
    try {
      return await fn(client);
    } finally {
      client.off('error', ignore);
      client.release(!keep);
    }
  }
  const client = new pg.Client({ connectionString: target, application_name: 'switchyard-migrate' });
  // A dropped connection also rejects the query in flight, which is what gets reported.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates the database named in `url` when it does not exist, connecting to the `postgres`
 * database of the same server to do so. Only "database does not exist" (3D000) triggers it;
 * any other connection error is thrown as is. Concurrent callers are fine (42P04 is ignored).
 *
 * @returns true when this call created the database.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return false;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err;
  } finally {
    await probe.end().catch(() => {});
  }
  return createDatabase(url);
}

async function createDatabase(url: string): Promise<boolean> {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.slice(1));
  parsed.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: parsed.toString() });
  admin.on('error', () => {});
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42P04') return false; // created by a concurrent run
    throw err;
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Quotes a Postgres identifier (database names cannot be bind parameters). */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
