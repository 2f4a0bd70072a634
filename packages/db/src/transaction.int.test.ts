import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../test/scratch-database.ts';
import { createPool, type Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

let scratch: ScratchDatabase;
let pool: Pool;
let admin: Pool;

beforeAll(async () => {
  scratch = await createScratchDatabase('switchyard_transaction');
  pool = createPool(scratch.url, { max: 2, application: 'transaction-test' });
  admin = createPool(scratch.url, { max: 1, application: 'transaction-test-admin' });
});

afterAll(async () => {
  await pool?.end();
  await admin?.end();
  await scratch?.drop();
});

describe('withTransaction', () => {
  it('runs the transaction again when its connection is terminated between two statements', async () => {
    let runs = 0;
    const result = await withTransaction(pool, async (client) => {
      runs += 1;
      const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
      if (runs === 1) {
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
        // Idle between statements: the termination arrives as an 'error' event on the client,
        // which must neither crash the process nor be lost.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await client.query('SELECT 1');
      return runs;
    });

    expect(result).toBe(2);
    // The broken client was destroyed, not returned to the pool.
    expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
  });
});

describe('createPool', () => {
  it('survives a connection terminated under a checked-out client that does not listen for errors', async () => {
    const client = await pool.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    let ended = false;
    client.once('end', () => {
      ended = true;
    });
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    // The termination arrives as an 'error' event on the idle client; with no listener it would
    // be an uncaught exception, and the process (this test run with it) would end.
    for (let i = 0; i < 100 && !ended; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ended).toBe(true);
    // The error shows on the client's next query, and the pool drops the broken client.
    await expect(client.query('SELECT 1')).rejects.toThrow();
    const clients = pool.totalCount;
    client.release();
    expect(pool.totalCount).toBe(clients - 1);
    expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
  });
});
