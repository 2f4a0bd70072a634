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
};

// Return int8 (bigint) columns as numbers: our bigints are row ids and counts far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** A `pg` pool whose idle-client errors are reported instead of crashing the process. */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    application_name: options.application ?? 'switchyard',
    ...(options.statementTimeoutMillis ? { statement_timeout: options.statementTimeoutMillis } : {}),
  });
  // A backend killed under an idle client (pg_terminate_backend, failover) emits 'error' on the
  // pool; without a listener Node would exit. The pool replaces the client on next checkout.
  pool.on('error', () => {});
  return pool;
}
