import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../test/scratch-database.ts';
import { createPool, type Pool } from './pool.ts';

let scratch: ScratchDatabase;
let pool: Pool;
let admin: Pool;

beforeAll(async () => {
  scratch = await createScratchDatabase('switchyard_pool');
  pool = createPool(scratch.url, { max: 1, application: 'pool-test' });
  admin = createPool(scratch.url, { max: 1, application: 'pool-test-admin' });
});

afterAll(async () => {
  await pool?.end();
  await admin?.end();
  await scratch?.drop();
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
    client.release();
    expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
  });
});
