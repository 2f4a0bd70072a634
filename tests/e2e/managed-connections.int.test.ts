/**
 * Managed Redis and Postgres settings reach the processes through the two URLs alone: TLS and
 * an ACL user for Redis (`rediss://user:password@host`), `sslmode` for Postgres.
 */
import { readFileSync } from 'node:fs';
import { createPool, type Pool, registerTemplate } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import { StepDispatcher } from '@switchyard/queue';
import {
  createTestDatabase,
  startTlsRedisServer,
  type TestDatabase,
  type TestTlsRedisServer,
} from '@switchyard/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordedTemplate, spawnAppProcess, type WorkerProcess, waitFor } from './harness.ts';

const handlerModule = new URL('./fixtures/handlers.ts', import.meta.url).pathname;
const sideEffectsSql = readFileSync(new URL('./fixtures/side-effects.sql', import.meta.url), 'utf8');

let redis: TestTlsRedisServer;
let database: TestDatabase;
let pool: Pool;
const processes: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await startTlsRedisServer();
  database = await createTestDatabase();
  await database.pool.query(sideEffectsSql);
  pool = createPool(database.url, { max: 4 });
});

afterAll(async () => {
  for (const child of processes) child.child.kill('SIGKILL');
  await Promise.all(processes.map((child) => child.exited));
  await pool?.end();
  await redis?.stop();
  await database?.drop();
});

function spawn(main: string, env: Record<string, string>): WorkerProcess {
  const child = spawnAppProcess(main, { LOG_LEVEL: 'warn', ...env });
  processes.push(child);
  return child;
}

describe('Redis over TLS with an ACL user, from REDIS_URL', () => {
  it('the server takes neither plain connections nor the default user', async () => {
    const plain = new Redis(redis.url.replace('rediss://', 'redis://'), {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    plain.on('error', () => {});
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
    plain.disconnect();
    const anonymous = new Redis(`rediss://localhost:${redis.port}`, {
      lazyConnect: true,
      // Without it the ready check's INFO fails first and the reply is lost in a closed connection.
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      tls: { ca: readFileSync(redis.caFile) },
    });
    anonymous.on('error', () => {});
    await expect(anonymous.connect().then(() => anonymous.get('x'))).rejects.toThrow(
      /NOAUTH|NOPERM|WRONGPASS/,
    );
    anonymous.disconnect();
  });

  it('a worker and a scheduler process run tasks to completion with only REDIS_URL (and the CA)', async () => {
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      // A private CA is trusted the Node way; a managed service's public CA needs nothing.
      NODE_EXTRA_CA_CERTS: redis.caFile,
      SWITCHYARD_QUEUE_PREFIX: 'tls',
    };
    spawn('apps/worker/src/main.ts', { ...env, SWITCHYARD_HANDLER_MODULES: handlerModule });
    const scheduler = spawn('apps/scheduler/src/main.ts', { ...env, LOG_LEVEL: 'info' });
    const connection = redis.connection();
    const dispatcher = new StepDispatcher({ connection, prefix: 'tls' });
    const template = recordedTemplate('tls', 2);
    await registerTemplate(pool, template);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { task } = await createTask({ pool, dispatcher }, { namespace: 'e2e', name: 'tls', context: {} });
      ids.push(task.id);
    }
    await waitFor(
      'every task to complete',
      async () => {
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
          [ids],
        );
        return rows[0].n === ids.length;
      },
      30_000,
    );
    await waitFor('the scheduler to start', async () => scheduler.output().includes('scheduler started'));
    // The jobs went through this server: its ACL user ran BullMQ's scripts.
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM side_effects WHERE kind = 'completed'`);
    expect(rows[0].n).toBe(20);
    expect(
      Number((await connection.info('stats')).match(/total_connections_received:(\d+)/)?.[1]),
    ).toBeGreaterThan(3);
    await dispatcher.close();
  });
});

describe('Postgres sslmode, from DATABASE_URL', () => {
  const withSslMode = (mode: string) => {
    const url = new URL(database.url);
    url.searchParams.set('sslmode', mode);
    return url.toString();
  };

  it('sslmode=disable connects in plain text, sslmode=require only over TLS', async () => {
    const plain = createPool(withSslMode('disable'), { max: 1 });
    const { rows } = await plain.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(rows[0].ssl).toBe(false);
    const serverSsl = (await plain.query('SHOW ssl')).rows[0].ssl === 'on';
    await plain.end();

    // The migrate role, started as the image starts it, with the URL as the operator sets it.
    const migrate = spawn('packages/db/src/migrate-cli.ts', { DATABASE_URL: withSslMode('require') });
    const code = await migrate.exited;
    if (serverSsl) {
      expect(code).toBe(0);
      const secure = createPool(withSslMode('require'), { max: 1 });
      const { rows: tls } = await secure.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      await secure.end();
      expect(tls[0].ssl).toBe(true);
    } else {
      // This server has TLS off: require must refuse rather than fall back to plain text.
      expect(code).toBe(1);
      expect(migrate.output()).toContain('The server does not support SSL connections');
    }
  });
});
