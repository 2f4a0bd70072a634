import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../test/scratch-database.ts';
import {
  applyMigrations,
  DEFAULT_MIGRATIONS_DIR,
  ensureDatabase,
  listMigrations,
  MIGRATION_LOCK_KEY,
  MigrationError,
  pendingMigrations,
} from './migrator.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratch(): Promise<ScratchDatabase> {
  const database = await createScratchDatabase('switchyard_migrator');
  cleanups.push(database.drop);
  return database;
}

/** A migrations folder with the given `name → sql` entries. */
async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) await writeMigration(dir, name, sql);
  return dir;
}

async function writeMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, 'migration.sql'), sql);
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('applyMigrations', () => {
  it('applies the repository migrations once and records them as Prisma does', async () => {
    const db = await scratch();
    const names = (await listMigrations()).map((migration) => migration.name);
    expect(await pendingMigrations(db.url)).toEqual(names);

    expect(await applyMigrations(db.url)).toEqual({ applied: names });
    expect(await applyMigrations(db.url)).toEqual({ applied: [] });
    expect(await pendingMigrations(db.url)).toEqual([]);

    const rows = await query(db.url, 'SELECT * FROM _prisma_migrations ORDER BY started_at');
    const first = await readFile(join(DEFAULT_MIGRATIONS_DIR, names[0]!, 'migration.sql'));
    expect(rows[0]).toMatchObject({
      migration_name: names[0],
      checksum: createHash('sha256').update(first).digest('hex'),
      logs: null,
      rolled_back_at: null,
      applied_steps_count: 1,
    });
    expect(rows[0]?.finished_at).toBeInstanceOf(Date);
  });

  it("creates _prisma_migrations with exactly Prisma's layout", async () => {
    const db = await scratch();
    await applyMigrations(db.url, { migrationsDir: await migrationsDir({}) });
    const columns = await query(
      db.url,
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
              pg_get_expr(d.adbin, d.adrelid) AS default
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = '_prisma_migrations'::regclass AND a.attnum > 0 ORDER BY a.attnum`,
    );
    expect(columns).toEqual([
      { name: 'id', type: 'character varying(36)', not_null: true, default: null },
      { name: 'checksum', type: 'character varying(64)', not_null: true, default: null },
      { name: 'finished_at', type: 'timestamp with time zone', not_null: false, default: null },
      { name: 'migration_name', type: 'character varying(255)', not_null: true, default: null },
      { name: 'logs', type: 'text', not_null: false, default: null },
      { name: 'rolled_back_at', type: 'timestamp with time zone', not_null: false, default: null },
      { name: 'started_at', type: 'timestamp with time zone', not_null: true, default: 'now()' },
      { name: 'applied_steps_count', type: 'integer', not_null: true, default: '0' },
    ]);
  });

  it('lets concurrent runs apply each migration exactly once', async () => {
    const db = await scratch();
    const runs = await Promise.all(Array.from({ length: 4 }, () => applyMigrations(db.url)));
    const names = (await listMigrations()).map((migration) => migration.name);
    expect(runs.flatMap((run) => run.applied)).toEqual(names);
    const rows = await query(db.url, 'SELECT count(*)::int AS n FROM _prisma_migrations');
    expect(rows).toEqual([{ n: names.length }]);
  });

  it('rolls a failing migration back and names it with the Postgres message', async () => {
    const db = await scratch();
    const dir = await migrationsDir({
      '001_ok': 'CREATE TABLE a (id int);',
      '002_broken': 'CREATE TABLE b (id int);\nINSERT INTO missing_table VALUES (1);',
    });
    const error = await applyMigrations(db.url, { migrationsDir: dir }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ migration: '002_broken' });
    expect((error as Error).message).toMatch(
      /migration 002_broken failed: relation "missing_table" does not exist \(SQLSTATE 42P01, line 2\)/,
    );
    const tables = await query(db.url, `SELECT to_regclass('a') AS a, to_regclass('b') AS b`);
    expect(tables).toEqual([{ a: 'a', b: null }]);
    expect(await pendingMigrations(db.url, { migrationsDir: dir })).toEqual(['002_broken']);
  });

  it('refuses to continue when an applied migration was edited', async () => {
    const db = await scratch();
    const dir = await migrationsDir({ '001_init': 'CREATE TABLE a (id int);' });
    await applyMigrations(db.url, { migrationsDir: dir });
    await writeMigration(dir, '001_init', 'CREATE TABLE a (id bigint);');
    await writeMigration(dir, '002_next', 'CREATE TABLE b (id int);');

    const run = applyMigrations(db.url, { migrationsDir: dir });
    await expect(run).rejects.toThrow(/migration 001_init was edited after it was applied/);
    await expect(pendingMigrations(db.url, { migrationsDir: dir })).rejects.toBeInstanceOf(MigrationError);
    expect(await query(db.url, `SELECT to_regclass('b') AS b`)).toEqual([{ b: null }]);
  });

  it('refuses a history holding a migration Prisma started but never finished', async () => {
    const db = await scratch();
    const dir = await migrationsDir({ '001_init': 'SELECT 1;' });
    await applyMigrations(db.url, { migrationsDir: await migrationsDir({}) });
    await query(
      db.url,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('x', 'y', '001_init')`,
    );
    await expect(applyMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(
      /migration 001_init started but never finished/,
    );
  });

  it('borrows a pool connection without leaking the lock into the pool', async () => {
    const db = await scratch();
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    cleanups.push(() => pool.end());
    await applyMigrations(pool, { migrationsDir: await migrationsDir({ '001_init': 'SELECT 1;' }) });
    const { rows } = await pool.query(
      // This database's only: other test files migrate their own databases at the same time.
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [MIGRATION_LOCK_KEY],
    );
    expect(rows).toEqual([{ n: 0 }]);
    expect(
      await pendingMigrations(pool, { migrationsDir: await migrationsDir({ '001_init': 'SELECT 1;' }) }),
    ).toEqual([]);
  });

  it('fails instead of waiting forever for a lock another run holds', async () => {
    const db = await scratch();
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await expect(applyMigrations(db.url, { lockTimeoutMs: 200 })).rejects.toThrow(/held the migration lock/);
  });
});

describe('ensureDatabase', () => {
  it('creates a missing database once', async () => {
    const db = await scratch();
    await db.drop();
    expect(await ensureDatabase(db.url)).toBe(true);
    expect(await ensureDatabase(db.url)).toBe(false);
    expect(await query(db.url, 'SELECT current_database() AS name')).toEqual([{ name: db.name }]);
  });
});
