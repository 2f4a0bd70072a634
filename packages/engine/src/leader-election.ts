import { toError } from '@switchyard/core';
import pg from 'pg';
import type { Logger } from 'pino';

/** Advisory lock key of scheduler leadership: an arbitrary constant, distinct from the migrator's. */
export const SCHEDULER_LOCK_KEY = 7_346_518_201_190_011n;

/**
 * Leadership through a session-level Postgres advisory lock held on a dedicated connection:
 * when the leader's process or connection dies, Postgres releases the lock and the next
 * replica to try takes it. A leader whose connection fails steps down at once.
 */
export class LeaderElection {
  readonly #url: string;
  readonly #log: Logger;
  #client: pg.Client | null = null;
  #leader = false;

  constructor(databaseUrl: string, log: Logger) {
    this.#url = databaseUrl;
    this.#log = log;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** True when this replica holds leadership (acquiring it if it is free). */
  async holdOrAcquire(): Promise<boolean> {
    try {
      const client = await this.#connection();
      if (this.#leader) {
        await client.query('SELECT 1'); // the session (and with it the lock) is still alive
        return true;
      }
      const { rows } = await client.query('SELECT pg_try_advisory_lock($1::bigint) AS acquired', [
        SCHEDULER_LOCK_KEY.toString(),
      ]);
      if (rows[0].acquired) {
        this.#leader = true;
        this.#log.info('became scheduler leader');
      }
      return this.#leader;
    } catch (err) {
      this.#stepDown(toError(err));
      return false;
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    this.#leader = false;
    await client?.end().catch(() => {});
  }

  async #connection(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client({
      connectionString: this.#url,
      application_name: 'switchyard-scheduler-leader',
    });
    client.on('error', (err) => this.#stepDown(err));
    await client.connect();
    this.#client = client;
    return client;
  }

  #stepDown(err: Error): void {
    if (this.#leader) this.#log.warn({ err }, 'lost scheduler leadership (leader session ended)');
    this.#leader = false;
    const client = this.#client;
    this.#client = null;
    client?.end().catch(() => {});
  }
}
