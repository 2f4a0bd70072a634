/**
 * The API against a Redis and a Postgres that go away and come back: every request gets an
 * answer within a bounded time, never a 500; Redis being down does not fail creates or cancels
 * (Postgres is the truth, the scheduler dispatches what is missing); readiness says which
 * dependency failed; a client that trickles its request is cut off.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { createApiKey, createPool, type Pool } from '@switchyard/db';
import { registerTemplates, startWorker } from '@switchyard/engine';
import { defineStepHandler } from '@switchyard/handler-kit';
import {
  connectRedis,
  createRedisConnection,
  failFastRedisOptions,
  type RedisConnection,
  StepDispatcher,
} from '@switchyard/queue';
import {
  createTestDatabase,
  freePort,
  startRedisServer,
  type TestDatabase,
  type TestRedisServer,
  waitFor,
} from '@switchyard/testing';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiTimeouts } from '../src/deps.ts';
import { buildServer } from '../src/server.ts';
import { apiTemplate } from './harness.ts';

// Generous: the machine is shared. A hang is what these deadlines catch, not slowness.
const CLIENT_TIMEOUT_MS = 20_000;
const WAIT_MS = 60_000;

const template = apiTemplate({ steps: [{ name: 'only', handler: `outage_${randomUUID().slice(0, 8)}` }] });
const handler = template.steps[0]!.handler;
const twoSteps = apiTemplate({
  steps: [
    { name: 'first', handler: `${handler}_first` },
    { name: 'second', handler: `${handler}_second`, depends_on: ['first'] },
  ],
});

let database: TestDatabase;
let redisServer: TestRedisServer;
let proxy: TcpProxy;
let adminKey: string;
/** Stops and starts the private Redis, each only when it is not so already. */
const redis = {
  running: true,
  async down() {
    if (this.running) await redisServer.kill();
    this.running = false;
  },
  async up() {
    if (!this.running) await redisServer.restart();
    this.running = true;
  },
};

beforeAll(async () => {
  database = await createTestDatabase();
  redisServer = await startRedisServer();
  const target = new URL(database.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  await registerTemplates(database.pool, [template, twoSteps]);
  adminKey = (
    await createApiKey(database.pool, {
      name: 'outage',
      scopes: ['admin'],
      namespaces: [],
      createdBy: 'test',
    })
  ).key;
}, WAIT_MS);

afterAll(async () => {
  await proxy?.close();
  await redisServer?.stop();
  await database?.drop();
});

// ---------------------------------------------------------------------------------------------
// The API under test, built as the main builds it (fail-fast Redis, bounded Postgres waits).

type Api = {
  url: string;
  app: FastifyInstance;
  pool: Pool;
  redis: RedisConnection;
  logs: Record<string, unknown>[];
  applicationName: string;
  prefix: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
};
type Answer = { status: number; ms: number; type: string; body: unknown; text: string };

async function startApi(options: { redisUrl: string; timeouts?: Partial<ApiTimeouts> }): Promise<Api> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const applicationName = `outage-api-${randomUUID().slice(0, 8)}`;
  const target = new URL(database.url);
  target.host = `127.0.0.1:${proxy.port}`;
  const pool = createPool(target.toString(), {
    max: 8,
    connectionTimeoutMillis: 2_000,
    statementTimeoutMillis: 5_000,
    application: applicationName,
  });
  const redis = connectRedis({ url: options.redisUrl, cluster: false }, failFastRedisOptions(1_000));
  const prefix = `outage-${randomUUID().slice(0, 8)}`;
  const dispatcher = new StepDispatcher({ connection: redis, prefix, timeoutMs: 1_000 });
  const app = await buildServer(
    { pool, redis, dispatcher, queuePrefix: prefix, logger },
    {
      authDisabled: false,
      bodyLimit: 64 * 1024,
      metricsRequireKey: false,
      timeouts: { redisMs: 1_000, ...options.timeouts },
    },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    url,
    app,
    pool,
    redis,
    logs,
    applicationName,
    prefix,
    async call(method, path, body, headers = {}) {
      const started = Date.now();
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return {
        status: response.status,
        ms: Date.now() - started,
        type: response.headers.get('content-type') ?? '',
        body: parsed,
        text,
      };
    },
    async close() {
      await app.close();
      // A queue whose connection was never ready would wait for it to close: bounded.
      await Promise.race([dispatcher.close(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
      redis.disconnect();
      await pool.end();
    },
  };
}

const createBody = (context: Record<string, unknown> = {}) => ({
  namespace: template.namespace,
  name: template.name,
  context,
});

// ---------------------------------------------------------------------------------------------

describe('Redis down', () => {
  let api: Api;
  afterEach(async () => {
    await redis.up();
    await api?.close();
    vi.restoreAllMocks();
  });

  it('readiness 503 naming Redis within 2 s; create 201, cancel and resolve 200, queues 503, metrics 200: all fast', async () => {
    const consoleError = vi.spyOn(console, 'error');
    api = await startApi({ redisUrl: redisServer.url });
    const worker = await startBlockingWorker(api.prefix);
    const running = await api.call('POST', '/v1/tasks', createBody());
    expect(running.status).toBe(201);
    const runningId = (running.body as { task: { id: string } }).task.id;
    await waitFor('the step to start', async () => {
      const { rows } = await database.pool.query(
        `SELECT 1 FROM workflow_steps WHERE task_id = $1 AND status = 'in_progress'`,
        [runningId],
      );
      return rows.length === 1;
    });

    await redis.down();
    await waitFor('the API to see Redis gone', async () => api.redis.status !== 'ready');

    const ready = await api.call('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.type).toContain('application/problem+json');
    expect(ready.ms).toBeLessThan(2_000);
    expect(ready.body).toMatchObject({
      code: 'not_ready',
      checks: { redis: { ok: false }, postgres: { ok: true } },
    });
    expect((ready.body as { detail: string }).detail).toMatch(/redis/);

    const created = await api.call('POST', '/v1/tasks', createBody({ n: 1 }));
    expect(created.status).toBe(201);
    expect(created.ms).toBeLessThan(5_000);
    const createdId = (created.body as { task: { id: string } }).task.id;
    const { rows } = await database.pool.query(`SELECT status FROM workflow_steps WHERE task_id = $1`, [
      createdId,
    ]);
    expect(rows).toEqual([{ status: 'enqueued' }]);

    // The running handler's cancellation cannot be announced: the cancel still succeeds.
    const cancelled = await api.call('POST', `/v1/tasks/${runningId}/cancel`, {});
    expect(cancelled.status).toBe(200);
    expect(cancelled.ms).toBeLessThan(5_000);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });

    // Resolving a step by hand commits; the child it makes ready is left to the scheduler.
    const parent = await api.call('POST', '/v1/tasks', {
      namespace: twoSteps.namespace,
      name: twoSteps.name,
      context: {},
    });
    expect(parent.status).toBe(201);
    const parentId = (parent.body as { task: { id: string } }).task.id;
    const resolved = await api.call('POST', `/v1/tasks/${parentId}/steps/first/resolve`, {
      reason: 'outage test',
    });
    expect(resolved.status).toBe(200);
    expect(resolved.ms).toBeLessThan(5_000);
    const second = await database.pool.query(
      `SELECT status FROM workflow_steps WHERE task_id = $1 AND name = 'second'`,
      [parentId],
    );
    expect(second.rows).toEqual([{ status: 'enqueued' }]);

    const queues = await api.call('GET', '/v1/queues');
    expect(queues.status).toBe(503);
    expect(queues.type).toContain('application/problem+json');
    expect((queues.body as { detail: string }).detail).toMatch(/Redis is unavailable/);
    expect(queues.ms).toBeLessThan(5_000);

    const metrics = await api.call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.ms).toBeLessThan(5_000);
    expect(metrics.text).toMatch(/^switchyard_redis_up 0$/m);

    // Logged once through pino, however many reconnect attempts failed; nothing on stderr.
    const warnings = () => api.logs.filter((line) => String(line.msg).startsWith('Redis is unavailable'));
    expect(warnings()).toHaveLength(1);
    expect(consoleError.mock.calls.filter((args) => String(args[0]).includes('[ioredis]'))).toEqual([]);

    await redis.up();
    await waitFor(
      'readiness back to 200',
      async () => (await api.call('GET', '/health/ready')).status === 200,
    );
    expect(api.logs.some((line) => line.msg === 'Redis is available again')).toBe(true);
    expect((await api.call('GET', '/v1/queues')).status).toBe(200);
    expect((await api.call('GET', '/metrics')).text).toMatch(/^switchyard_redis_up 1$/m);
    await worker.stop();
  }, 120_000);

  it('a Redis that was never up: readiness 503 within 2 s, create 201 within the Redis timeout', async () => {
    const nothing = `redis://127.0.0.1:${await freePort()}`;
    api = await startApi({ redisUrl: nothing });
    const ready = await api.call('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(2_000);
    expect(ready.body).toMatchObject({ checks: { redis: { ok: false } } });
    const created = await api.call('POST', '/v1/tasks', createBody({ never: true }));
    expect(created.status).toBe(201);
    expect(created.ms).toBeLessThan(5_000);
    expect(
      api.logs.some(
        (line) => line.msg === 'task created; its first steps could not be dispatched, the scheduler will',
      ),
    ).toBe(true);
    const queues = await api.call('GET', '/v1/queues');
    expect(queues.status).toBe(503);
    expect(queues.ms).toBeLessThan(5_000);
    const metrics = await api.call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.ms).toBeLessThan(5_000);
  }, 60_000);
});

/** A worker on the private Redis whose handler runs until its signal aborts. */
async function startBlockingWorker(queuePrefix: string) {
  const redis = createRedisConnection(redisServer.url);
  redis.on('error', () => {});
  const worker = await startWorker({
    handlers: [
      defineStepHandler(
        handler,
        (ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))),
          ),
      ),
    ],
    pool: database.pool,
    redis,
    queuePrefix,
    leaseMs: 1_500,
    logger: pino({ level: 'silent' }),
  });
  return {
    async stop() {
      await worker.stop();
      redis.disconnect();
    },
  };
}

describe('Postgres down', () => {
  let api: Api;
  afterAll(async () => {
    await proxy.restore();
    await api?.close();
  });

  it('every route answers 503 problem+json within a bounded time, readiness naming Postgres', async () => {
    api = await startApi({ redisUrl: redisServer.url });
    await waitFor('readiness 200', async () => (await api.call('GET', '/health/ready')).status === 200);
    await proxy.cut();
    const routes: [string, string, unknown?][] = [
      ['GET', '/health/ready'],
      ['POST', '/v1/tasks', createBody({ pg: 1 })],
      ['GET', `/v1/tasks/${randomUUID()}`],
      ['GET', '/v1/tasks'],
      ['POST', `/v1/tasks/${randomUUID()}/cancel`, {}],
      ['GET', '/v1/templates'],
      ['GET', '/v1/breakers'],
      ['GET', '/v1/queues'],
      ['GET', '/metrics'],
    ];
    const answers = [];
    for (const [method, path, body] of routes) {
      const answer = await api.call(method, path, body);
      answers.push({
        route: `${method} ${path.replace(/[0-9a-f-]{36}/, ':id')}`,
        status: answer.status,
        problem: answer.type.startsWith('application/problem+json'),
        fast: answer.ms < (path === '/health/ready' ? 2_000 : 10_000),
      });
    }
    expect(answers).toEqual(
      routes.map(([method, path]) => ({
        route: `${method} ${path.replace(/[0-9a-f-]{36}/, ':id')}`,
        status: 503,
        problem: true,
        fast: true,
      })),
    );
    const ready = await api.call('GET', '/health/ready');
    expect(ready.body).toMatchObject({ checks: { postgres: { ok: false }, redis: { ok: true } } });
    await proxy.restore();
    await waitFor(
      'readiness back to 200',
      async () => (await api.call('GET', '/health/ready')).status === 200,
    );
  }, 120_000);
});

describe('request timeouts', () => {
  let api: Api;
  afterAll(() => api?.close());

  it('cuts off a request whose body trickles in, within the request timeout', async () => {
    api = await startApi({ redisUrl: redisServer.url, timeouts: { requestMs: 2_000, headersMs: 1_000 } });
    const { port } = new URL(api.url);
    const socket = netConnect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = Date.now();
    let received = '';
    socket.on('data', (chunk) => {
      received += String(chunk);
    });
    socket.on('error', () => {});
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => resolve(Date.now() - started)),
    );
    socket.write(
      `POST /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${adminKey}\r\n` +
        'content-type: application/json\r\ncontent-length: 10000\r\n\r\n{',
    );
    const trickle = setInterval(() => socket.write(' '), 500);
    const elapsed = await Promise.race([
      closed,
      new Promise<number>((resolve) => setTimeout(() => resolve(-1), 30_000)),
    ]);
    clearInterval(trickle);
    socket.destroy();
    console.info(
      `trickled request closed after ${elapsed} ms (request timeout 2000 ms): ${received.split('\r\n')[0]}`,
    );
    expect(elapsed).toBeGreaterThan(0);
    expect(elapsed).toBeLessThan(10_000);
    if (received !== '') expect(received).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------

describe('chaos: Redis and Postgres go away and come back under steady traffic', () => {
  let api: Api;
  afterAll(async () => {
    await proxy.restore();
    await redis.up();
    await api?.close();
  });

  it('answers every request, never 500, makes no task twice for one Idempotency-Key, readiness 503 then 200', async () => {
    api = await startApi({ redisUrl: redisServer.url });
    await waitFor('readiness 200', async () => (await api.call('GET', '/health/ready')).status === 200);
    const answers: { what: string; status: number; ms: number; detail?: string }[] = [];
    const hung: string[] = [];
    const createdByKey = new Map<string, string>();
    let stop = false;

    const record = async (what: string, run: () => Promise<Answer>) => {
      try {
        const answer = await run();
        answers.push({
          what,
          status: answer.status,
          ms: answer.ms,
          ...(answer.status >= 500 ? { detail: answer.text.slice(0, 300) } : {}),
        });
        return answer;
      } catch (err) {
        hung.push(`${what}: ${(err as Error).message}`);
        return null;
      }
    };
    const client = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const key = `chaos-${n}-${i}`;
        // A client retries a create with the same key until it has an answer that is not 503.
        let created: Answer | null = null;
        for (let attempt = 0; !stop && attempt < 50; attempt++) {
          created = await record('create', () =>
            api.call('POST', '/v1/tasks', createBody({ n, i }), { 'idempotency-key': key }),
          );
          if (created && created.status !== 503) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const id = (created?.body as { task?: { id: string } } | undefined)?.task?.id;
        if (!id || (created?.status ?? 0) >= 300) continue;
        createdByKey.set(key, id);
        await record('read', () => api.call('GET', `/v1/tasks/${id}`));
        if (i % 2 === 0) await record('cancel', () => api.call('POST', `/v1/tasks/${id}/cancel`, {}));
        await record('ready', () => api.call('GET', '/health/ready'));
      }
    };
    const readiness: number[] = [];
    const readyIs = (status: number) => async () => {
      const answer = await api.call('GET', '/health/ready');
      readiness.push(answer.status);
      return answer.status === status;
    };
    const clients = [0, 1, 2, 3].map(client);
    const progress = async (what: string) => {
      const before = answers.length;
      await waitFor(what, async () => answers.length >= before + 20);
    };

    await progress('traffic before the outages');
    await redis.down();
    await waitFor('readiness 503 (Redis)', readyIs(503));
    await progress('traffic without Redis');
    await redis.up();
    await waitFor('readiness 200 (Redis back)', readyIs(200));
    await progress('traffic after Redis');
    await proxy.cut();
    await waitFor('readiness 503 (Postgres)', readyIs(503));
    await progress('traffic without Postgres');
    await proxy.restore();
    await waitFor('readiness 200 (Postgres back)', readyIs(200));
    for (let round = 0; round < 3; round++) {
      await database.pool.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [api.applicationName],
      );
      await progress(`traffic after terminating the API's connections (${round + 1})`);
    }
    stop = true;
    await Promise.all(clients);

    expect(hung).toEqual([]);
    expect(answers.filter((a) => a.status === 500)).toEqual([]);
    expect(answers.filter((a) => ![200, 201, 409, 503].includes(a.status))).toEqual([]);
    expect(readiness).toContain(503);
    expect(readiness.at(-1)).toBe(200);
    expect(createdByKey.size).toBeGreaterThan(0);
    const { rows } = await database.pool.query(
      `SELECT context->>'n' AS n, context->>'i' AS i, count(*)::int AS tasks FROM tasks
        WHERE context ? 'i' GROUP BY 1, 2 HAVING count(*) > 1`,
    );
    expect(rows).toEqual([]);
    const longest = Math.max(...answers.map((a) => a.ms));
    console.info(
      `chaos: ${answers.length} answers, ${answers.filter((a) => a.status === 503).length} were 503, longest ${longest} ms`,
    );
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------

type TcpProxy = { port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> };

/** A TCP proxy to Postgres that the test can cut (every connection dropped, nothing listening) and restore on the same port. */
async function startTcpProxy(host: string, targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        const upstream = netConnect(targetPort, host);
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const socket of [client, upstream]) {
          socket.on('error', drop);
          socket.on('close', drop);
        }
        client.pipe(upstream).pipe(client);
      });
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        server = next;
        resolve();
      });
    });
  const cut = async () => {
    const current = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await listen();
  return {
    port,
    cut,
    restore: async () => {
      if (!server) await listen();
    },
    close: cut,
  };
}
