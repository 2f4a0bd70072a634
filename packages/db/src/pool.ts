import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that runs a query: the pool itself or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

export type PoolOptions = {
  /** Connections in the pool. Default 10. */
  max?: number;
  /** How long to wait for a free connection before failing (ms). Default 10 000. */
  connectionTimeoutMillis?: number;
  /**
   * Postgres cancels a statement that runs longer (ms; `statement_timeout`, SQLSTATE 57014),
   * which also bounds a wait for a row lock. Default: none (the server's setting).
   */
  statementTimeoutMillis?: number;
  application?: string;
  /**
   * Plan every parameterized statement once per connection and reuse the plan
   * (`plan_cache_mode=force_generic_plan`, sent as a startup option). For the worker's pool: its
   * hot statements take small array parameters, for which Postgres's own choice re-plans on
   * most calls (see GENERIC_PLANS below). Each connection plans its statements again every 2 s,
   * so that the plans follow the tables' growth (REPLAN_EVERY_MS). Not for a pool that runs
   * queries with optional filters (`$1::text IS NULL OR …`), whose good plans depend on the
   * values. Default false.
   */
  genericPlans?: boolean;
};

// Postgres re-plans a prepared statement with each call's values ("custom plan") unless the
// generic plan's estimate is no higher than the custom plans' average. The claim and success
// statements take arrays whose length the custom plan knows and the generic one guesses (10
// rows), so the custom plan always looks cheaper: the claim was re-planned on 85 % of its calls,
// about 1.1 ms of Postgres CPU each (README, "Postgres settings the engine relies on").
// A startup option rather than a SET after connecting: it holds for the whole session, and a
// pooler that tracks the parameter (PgBouncer's track_extra_parameters) re-applies it to every
// server connection it hands out, where a SET would be lost or leak to another client.
const GENERIC_PLANS = '-c plan_cache_mode=force_generic_plan';

// Return int8 (bigint) columns as numbers: our bigints are row ids and counts far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** A `pg` pool whose connection errors never crash the process (see the listeners below). */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    application_name: options.application ?? 'switchyard',
    ...(options.statementTimeoutMillis ? { statement_timeout: options.statementTimeoutMillis } : {}),
    ...(options.genericPlans ? { options: GENERIC_PLANS } : {}),
  });
  // A backend killed under an idle client (pg_terminate_backend, failover) emits 'error' on the
  // pool; without a listener Node would exit. The pool replaces the client on next checkout.
  pool.on('error', () => {});
  // pg-pool listens on a client only while it is idle in the pool (and its query() once per
  // query), so a connection lost between two queries of a checked-out client would emit an
  // 'error' with no listener: an uncaught exception that ends the process (shown with a backend
  // terminated under a checked-out client, transaction.int.test.ts). The error still shows on
  // the client's next query, and the pool drops a broken client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  if (options.genericPlans) replanPeriodically(pool);
  return pool;
}

// A generic plan is made for the tables' size when it is made, and kept until their statistics
// change (an ANALYZE). A worker that planned against small tables kept sequential scans while a
// burst grew them tenfold before autovacuum analyzed them: measured on 1,000 registrations after
// a warm-up of 100 (bench/src/plan-counts.ts), Postgres CPU per step rose to 2.5-2.9 ms against
// 1.7 ms with Postgres's default plan choice. Re-planning each connection's statements every
// 2 s (DISCARD PLANS before the next checkout; the planner reads the tables' current size)
// brought it to 0.93-0.97 ms; every 5 s gave 1.37-1.40 ms, every 10 s 1.73 ms, every 1 s the
// same as 2 s. A re-plan costs one planning per statement and connection (under 1 ms).
const REPLAN_EVERY_MS = 2_000;

/** Makes each connection of `pool` plan its statements again at most every REPLAN_EVERY_MS. */
function replanPeriodically(pool: pg.Pool): void {
  const plannedAt = new WeakMap<pg.PoolClient, number>();
  pool.on('acquire', (client) => {
    const now = Date.now();
    const at = plannedAt.get(client);
    if (at !== undefined && now - at < REPLAN_EVERY_MS) return;
    plannedAt.set(client, now);
    // Queued before the query the client was checked out for, so it runs first. A failure
    // (a connection being lost) shows on that query.
    if (at !== undefined) client.query('DISCARD PLANS').catch(() => {});
  });
}
