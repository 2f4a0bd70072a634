import type { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Counts what the hot path costs, per step: Postgres statements sent by this process (every
 * `pg` query goes through Client.prototype.query, so it is wrapped once here), commits on the
 * benchmark database (pg_stat_database), and Redis commands (INFO commandstats; this counts the
 * whole Redis server, so run benchmarks on a quiet machine).
 */
let statements = 0;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  statements += 1;
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof originalQuery;

export type CounterSnapshot = { statements: number; commits: number; redisCommands: number };

export async function snapshot(pool: pg.Pool, redis: Redis): Promise<CounterSnapshot> {
  const before = statements;
  const { rows } = await pool.query(
    'SELECT pg_stat_clear_snapshot(), xact_commit FROM pg_stat_database WHERE datname = current_database()',
  );
  const info = await redis.info('commandstats');
  const redisCommands = [...info.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  // Do not count the snapshot's own statements.
  statements = before;
  return { statements, commits: Number(rows[0].xact_commit), redisCommands };
}

export function delta(a: CounterSnapshot, b: CounterSnapshot): CounterSnapshot {
  return {
    statements: b.statements - a.statements,
    commits: b.commits - a.commits,
    redisCommands: b.redisCommands - a.redisCommands,
  };
}
