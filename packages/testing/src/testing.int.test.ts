import { createPool } from '@switchyard/db';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, createTestRedis } from './index.ts';

async function databaseExists(name: string): Promise<boolean> {
  const server = createPool(
    process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
    { max: 1 },
  );
  try {
    const { rowCount } = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await server.end();
  }
}

describe('createTestDatabase', () => {
  it('clones a migrated database that drop removes', async () => {
    const database = await createTestDatabase();
    const { rows } = await database.pool.query(
      `SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('tasks', 'workflow_steps')`,
    );
    expect(rows).toEqual([{ tables: 2 }]);
    const migrations = await database.pool.query('SELECT migration_name FROM _prisma_migrations');
    expect(migrations.rowCount).toBeGreaterThan(0);
    expect(database.name).toMatch(/^switchyard_test_[0-9a-f]+$/);

    // A connection the test forgot to close does not stop the drop.
    const straggler = createPool(database.url, { max: 1 });
    await straggler.query('SELECT 1');
    await database.drop();
    expect(await databaseExists(database.name)).toBe(false);
    await straggler.end();
  });

  it('gives each caller its own database', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      await a.pool.query(`INSERT INTO namespaces (name) VALUES ('only-in-a')`);
      const { rows } = await b.pool.query('SELECT name FROM namespaces');
      expect(a.name).not.toBe(b.name);
      expect(rows).toEqual([]);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });
});

describe('createTestRedis', () => {
  it('cleans up only the keys under its own prefix', async () => {
    const mine = createTestRedis();
    const other = createTestRedis();
    const redis = mine.connection();
    const otherRedis = other.connection();
    try {
      expect(mine.prefix).toMatch(/^\{syt-[0-9a-f]+\}$/);
      expect(mine.prefix).not.toBe(other.prefix);
      for (let i = 0; i < 1200; i++) await redis.set(`${mine.prefix}:q:${i}`, 'x');
      await otherRedis.set(`${other.prefix}:q:1`, 'kept');
      // A key that merely starts with the prefix text belongs to someone else.
      await otherRedis.set(`${mine.prefix}x:q:1`, 'kept');

      await mine.cleanup();

      expect(redis.status).toBe('end');
      expect(await otherRedis.keys(`${mine.prefix}:*`)).toEqual([]);
      expect(await otherRedis.get(`${other.prefix}:q:1`)).toBe('kept');
      expect(await otherRedis.get(`${mine.prefix}x:q:1`)).toBe('kept');
    } finally {
      await otherRedis.del(`${mine.prefix}x:q:1`);
      await other.cleanup();
    }
    expect(otherRedis.status).toBe('end');
  });
});
