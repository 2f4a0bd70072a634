/**
 * A real, migrated Postgres database per test file, cloned from a template in tens of
 * milliseconds instead of migrated each time (the approach of trigger.dev's testcontainers
 * helpers and graphile-worker's test setup, on a shared server instead of a container).
 */
import { createHash, randomBytes } from 'node:crypto';
import { applyMigrations, createPool, listMigrations, type Pool, type PoolClient } from '@switchyard/db';

/** A database of its own for one test file. */
export type TestDatabase = {
  /** Connection string of the new database. */
  url: string;
  name: string;
  /** A small pool on it (max 5) for the test's own queries; `drop` ends it. */
  pool: Pool;
  /** Ends the pool and drops the database, disconnecting anyone still connected. */
  drop(): Promise<void>;
};

function serverUrl(): string {
  return process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Runs `fn` on one connection to the server's maintenance database, closed afterwards.
 * (Through @switchyard/db's pool: this package has no `@types/pg` of its own.)
 */
async function onServer<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const pool = createPool(serverUrl(), { max: 1, application: 'switchyard-testing' });
  try {
    const client = await pool.connect();
    try {
      return await fn(client);
    } finally {
      // Destroyed rather than kept: it may hold an advisory lock until its session ends.
      client.release(true);
    }
  } finally {
    await pool.end();
  }
}

async function databaseExists(client: PoolClient, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rowCount === 1;
}

/** `switchyard_tpl_<8 hex>` from the names and checksums of the migrations: a changed migration gets a new template. */
async function templateName(): Promise<string> {
  const hash = createHash('sha256');
  for (const migration of await listMigrations()) hash.update(`${migration.name}\n${migration.checksum}\n`);
  return `switchyard_tpl_${hash.digest('hex').slice(0, 8)}`;
}

/**
 * Builds the template under a temporary name and renames it when fully migrated, so a process
 * killed half-way never leaves a template that looks finished. Vitest runs files in several
 * processes: an advisory lock (keyed by the template name) lets one build while the others wait.
 */
async function buildTemplate(name: string): Promise<void> {
  await onServer(async (client) => {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    try {
      if (await databaseExists(client, name)) return;
      const building = `${name}_building`;
      await client.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${building}`);
      await applyMigrations(databaseUrl(building));
      // The migrator's backend may still be exiting after its client closed, and RENAME (like
      // every later CREATE DATABASE ... TEMPLATE) refuses a database with sessions: wait for it.
      await client.query(
        'SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [building],
      );
      await client.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      // Marked as a template so that it is not mistaken for a working database.
      await client.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE true`);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [name]);
    }
  });
}

let template: Promise<string> | undefined;

/** The migrated template's name, built at most once per process. */
function migratedTemplate(): Promise<string> {
  template ??= templateName().then(async (name) => {
    await buildTemplate(name);
    return name;
  });
  // A failed build is retried by the next caller instead of failing every later test.
  template.catch(() => {
    template = undefined;
  });
  return template;
}

/**
 * Creates `switchyard_test_<random>` as a copy of the migrated template. The first call in a
 * process builds the template if needed (a few hundred ms); later calls take tens of ms.
 * Server from `TEST_DATABASE_URL` (default `postgresql://postgres@127.0.0.1:5432/postgres`).
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const tpl = await migratedTemplate();
  const name = `switchyard_test_${randomBytes(6).toString('hex')}`;
  await onServer((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${tpl}`));
  const url = databaseUrl(name);
  // createPool ignores idle-client errors: tests terminate backends on purpose.
  const pool = createPool(url, { max: 5, application: 'switchyard-test' });
  const drop = async () => {
    if (!pool.ended) await pool.end();
    await onServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  };
  return { url, name, pool, drop };
}
