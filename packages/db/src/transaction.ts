import { TransientInfrastructureError, toError } from '@switchyard/core';
import type pg from 'pg';

// SQLSTATEs after which the whole transaction may be run again: it was rolled back.
const RETRIABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
]);
const RETRIABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/**
 * The one place that decides whether a database error is worth retrying: serialization
 * failures, deadlocks, lost connections and pool timeouts are; constraint violations and
 * syntax errors are not.
 */
export function isRetriableDbError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string') {
    if (RETRIABLE_SQLSTATES.has(e.code) || e.code.startsWith('08')) return true;
    if (RETRIABLE_NODE_CODES.has(e.code)) return true;
  }
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

/**
 * Whether an error says Postgres could not be reached or served (a retriable failure, or one
 * whose retries withRetries used up), as opposed to Postgres refusing this request.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  return err instanceof TransientInfrastructureError || isRetriableDbError(err);
}

// Failures raised after a statement, or a COMMIT, was sent to Postgres: it may have taken effect.
const SENT = new WeakSet<object>();

function markSent(err: unknown): void {
  if (typeof err === 'object' && err !== null) SENT.add(err);
}

/**
 * Whether a failed operation run through withStatement, withTransaction or withRetries may have
 * taken effect: a statement run on its own (sending it is sending its commit) or a COMMIT had
 * been sent when it failed. False when it failed before that: no connection could be made (pool
 * timeout, refused or dropped during connect), or a transaction failed before its COMMIT (it
 * rolled back). Looks through `cause`, so the error withRetries throws at the end counts every
 * attempt.
 */
export function mayHaveTakenEffect(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 10; depth++) {
    if (SENT.has(e)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs `fn` (one statement that needs no transaction) on a connection of its own, so that a
 * failure can tell "no connection" (nothing sent) from "lost during the statement" (it may have
 * committed): see mayHaveTakenEffect. A connection that failed does not go back to the pool.
 */
export async function withStatement<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, fn, (_client, err) => markSent(err));
}

export type TransactionOptions = {
  /** Extra attempts after a retriable failure. Default 3. */
  retries?: number;
};

/**
 * Runs `fn` in one transaction (READ COMMITTED), retrying the whole of it on a retriable
 * failure. Every operation run through here is fenced, so a retry after an ambiguous commit
 * changes nothing twice.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  return withRetries(() => runOnce(pool, fn), options);
}

/**
 * Runs `fn` (one fenced statement, or a whole transaction) again after a retriable failure.
 * @throws TransientInfrastructureError once the retries are used up.
 */
export async function withRetries<T>(fn: () => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const retries = options.retries ?? 3;
  // An earlier attempt that may have taken effect makes the final failure one that may have too.
  let sent = false;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      sent ||= mayHaveTakenEffect(err);
      if (isRetriableDbError(err) && attempt < retries) {
        await sleep(25 * 2 ** attempt);
        continue;
      }
      const final = isRetriableDbError(err)
        ? new TransientInfrastructureError('database unavailable', { cause: toError(err) })
        : err;
      if (sent) markSent(final);
      throw final;
    }
  }
}

async function runOnce<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(
    pool,
    async (client) => {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT').catch((err: unknown) => {
        markSent(err);
        throw err;
      });
      return result;
    },
    (client) =>
      client.query('ROLLBACK').then(
        () => {},
        () => {},
      ),
  );
}

/**
 * Runs `fn` on a checked-out connection; `onFailure` runs before a failure is rethrown. A
 * connection that drops between two statements (pg_terminate_backend, failover) emits 'error' on
 * the client (createPool keeps that from crashing the process): the error is kept, and a client
 * whose connection failed does not go back to the pool.
 */
async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  onFailure: (client: pg.PoolClient, err: unknown) => unknown,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    broken = toError(err);
    await onFailure(client, err);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken && isRetriableDbError(broken) ? broken : undefined);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
