import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations } from '../src/migrator.ts';
import { createPool, type Pool } from '../src/pool.ts';

// @switchyard/testing depends on this package, so the db package's own tests make their
// databases here (empty, or migrated with a named task to hang tasks on).
const SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** An empty database for one test; `drop` removes it even while connections remain. */
export type ScratchDatabase = { name: string; url: string; drop(): Promise<void> };

async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates `<prefix>_<random>` on the test server. */
export async function createScratchDatabase(prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** A migrated scratch database, a pool on it and one named task that test tasks can belong to. */
export type TaskDatabase = {
  pool: Pool;
  namedTaskId: number;
  /** Ends the pool and drops the database. */
  close(): Promise<void>;
};

export async function createTaskDatabase(
  prefix: string,
  options: { application: string; poolMax: number; namespace: string; task: string; version: string },
): Promise<TaskDatabase> {
  const scratch = await createScratchDatabase(prefix);
  await applyMigrations(scratch.url);
  const pool = createPool(scratch.url, { max: options.poolMax, application: options.application });
  const ns = await pool.query(`INSERT INTO namespaces (name) VALUES ($1) RETURNING id`, [options.namespace]);
  const nt = await pool.query(
    `INSERT INTO named_tasks (namespace_id, name, version, definition, content_hash)
     VALUES ($1, $2, $3, '{}', 'x') RETURNING id`,
    [ns.rows[0].id, options.task, options.version],
  );
  return {
    pool,
    namedTaskId: nt.rows[0].id,
    async close() {
      await pool.end();
      await scratch.drop();
    },
  };
}
