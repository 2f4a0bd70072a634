import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Counts what the hot path costs, per step: Postgres statements sent by this process (every
 * `pg` query goes through Client.prototype.query, so it is wrapped once here), commits on the
 * benchmark database (pg_stat_database), WAL flushes (pg_stat_wal: what a durable commit waits
 * for) and Redis commands (INFO commandstats). The last two count the whole server, so run
 * benchmarks on a quiet machine.
 *
 * CPU time per step is counted too, per part: this Node process (creation, worker, scheduler),
 * the Postgres backends serving the benchmark database (from /proc), and Redis (INFO cpu).
 * Unlike throughput, CPU time barely moves when something else loads the machine, and on a
 * CPU-bound box 2 cores / (CPU seconds per step) bounds the steps per second.
 */
let statements = 0;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  statements += 1;
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof originalQuery;

/** Statements this process has sent to Postgres so far. */
export function statementsSent(): number {
  return statements;
}

export type CounterSnapshot = {
  statements: number;
  commits: number;
  walFlushes: number;
  redisCommands: number;
  /** CPU seconds: this process, the benchmark database's backends by pid, Redis. */
  nodeCpu: number;
  postgresCpu: Map<number, number>;
  redisCpu: number;
};

export type CounterDelta = Omit<CounterSnapshot, 'postgresCpu'> & { postgresCpu: number };

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds, or null when it is gone. */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

export async function snapshot(pool: pg.Pool, redis: Redis): Promise<CounterSnapshot> {
  const before = statements;
  const { rows } = await pool.query(
    `SELECT pg_stat_clear_snapshot(), xact_commit, (SELECT wal_sync FROM pg_stat_wal) AS wal_sync
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  const backends = await pool.query(
    // The backend running this query is listed too: it also serves the hot path, and leaving it out
    // of one snapshot but not the other would count its whole life.
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  const postgresCpu = new Map<number, number>();
  for (const { pid } of backends.rows) {
    const seconds = processCpuSeconds(pid);
    if (seconds !== null) postgresCpu.set(pid, seconds);
  }
  const redisCommands = await redisCommandCount(redis);
  const cpu = await redis.info('cpu');
  const redisCpu = ['used_cpu_sys', 'used_cpu_user']
    .map((field) => Number(cpu.match(new RegExp(`^${field}:([\\d.]+)`, 'm'))?.[1] ?? 0))
    .reduce((a, b) => a + b, 0);
  const usage = process.cpuUsage();
  // Do not count the snapshot's own statements.
  statements = before;
  return {
    statements,
    commits: Number(rows[0].xact_commit),
    walFlushes: Number(rows[0].wal_sync),
    redisCommands,
    nodeCpu: (usage.user + usage.system) / 1e6,
    postgresCpu,
    redisCpu,
  };
}

/** What happened between two snapshots; a backend that started in between counts in full. */
export function delta(a: CounterSnapshot, b: CounterSnapshot): CounterDelta {
  let postgresCpu = 0;
  for (const [pid, seconds] of b.postgresCpu) postgresCpu += seconds - (a.postgresCpu.get(pid) ?? 0);
  return {
    nodeCpu: b.nodeCpu - a.nodeCpu,
    postgresCpu,
    redisCpu: b.redisCpu - a.redisCpu,
    statements: b.statements - a.statements,
    commits: b.commits - a.commits,
    walFlushes: b.walFlushes - a.walFlushes,
    redisCommands: b.redisCommands - a.redisCommands,
  };
}

/** Commands the Redis server has run since it started (INFO commandstats, scripts' calls included). */
export async function redisCommandCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  return [...info.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}
