/**
 * A create whose answer is lost, or whose database fails mid-way, is never made twice and never
 * answered "retry" without saying whether the task may exist.
 */
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { createSwitchyardClient } from '@switchyard/client';
import { createLogger } from '@switchyard/logger';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/server.ts';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const unique = apiTemplate({ identity_strategy: 'unique', steps: [{ name: 'u', handler: 'co_nobody' }] });
const strict = apiTemplate({ identity_strategy: 'strict', steps: [{ name: 's', handler: 'co_nobody' }] });
const keyed = apiTemplate({ identity_strategy: 'caller_key', steps: [{ name: 'k', handler: 'co_nobody' }] });

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([unique, strict, keyed]);
});
afterAll(() => h.close());

async function tasksOf(name: string): Promise<string[]> {
  const { rows } = await h.pool.query(
    'SELECT t.id FROM tasks t JOIN named_tasks nt ON nt.id = t.named_task_id WHERE nt.name = $1',
    [name],
  );
  return rows.map((row) => row.id);
}

function listen(server: Server | TcpServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );
}

function closeServer(server: Server | TcpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * An HTTP proxy in front of the API that forwards the first create, waits for the API's whole
 * answer, and then cuts the caller's connection instead of answering; later requests pass.
 */
function losingProxy(target: string) {
  const creates: { retryKey: string | undefined; idempotencyKey: string | undefined }[] = [];
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const isCreate = request.method === 'POST' && request.url === '/v1/tasks';
      if (isCreate) {
        creates.push({
          retryKey: request.headers['switchyard-retry-key'] as string | undefined,
          idempotencyKey: request.headers['idempotency-key'] as string | undefined,
        });
      }
      const lose = isCreate && creates.length === 1;
      const upstream = httpRequest(
        `${target}${request.url}`,
        { method: request.method, headers: request.headers },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            if (lose) return void request.socket.destroy();
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            response.end(Buffer.concat(body));
          });
        },
      );
      upstream.end(Buffer.concat(chunks));
    });
  });
  return { server, creates };
}

describe('the typed client retries a create whose answer was lost', () => {
  let proxy: ReturnType<typeof losingProxy>;
  let port: number;
  beforeAll(async () => {
    proxy = losingProxy(h.url);
    port = await listen(proxy.server);
  });
  afterAll(() => closeServer(proxy.server));

  it('makes one task of a unique template without a key, answered as created', async () => {
    const client = createSwitchyardClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: h.adminKey,
      retryBaseMs: 5,
    });
    const created = await client.createTask({ namespace: 'shop', name: unique.name, context: { n: 1 } });
    expect(created.duplicate).toBe(false);
    expect(await tasksOf(unique.name)).toEqual([created.task.id]);
    expect(proxy.creates).toHaveLength(2);
    expect(proxy.creates[0]!.retryKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(proxy.creates[1]).toEqual(proxy.creates[0]);
  });
});

describe('the retry key', () => {
  const create = (name: string, retryKey: string, context: object = {}) =>
    h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name, context },
      headers: { 'switchyard-retry-key': retryKey },
    });

  it('dedupes a unique template by the key alone, and leaves strict identity as it was', async () => {
    const first = await create(unique.name, 'rk-1', { n: 2 });
    const again = await create(unique.name, 'rk-1', { n: 2 });
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.body.task.id).toBe(first.body.task.id);
    expect((await create(unique.name, 'rk-2', { n: 2 })).body.task.id).not.toBe(first.body.task.id);

    const a = await create(strict.name, 'rk-3', { n: 2 });
    const b = await create(strict.name, 'rk-4', { n: 2 });
    expect([a.status, b.status, b.body.duplicate]).toEqual([201, 200, true]);
    expect(b.body.task.id).toBe(a.body.task.id);
  });

  it("never stands in for a caller_key template's key", async () => {
    const refused = await create(keyed.name, 'rk-5');
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({ path: '/headers/idempotency-key', rule: 'required' }),
    ]);
  });
});

/**
 * A TCP proxy in front of Postgres. `dropAfter`: once a client message containing it has been
 * forwarded, new connections are accepted and dropped (existing ones keep working). `cutAfter`:
 * the message containing it is forwarded, Postgres's answer is swallowed until it is ready for
 * the next query (the statement committed), then the connection is cut and new ones dropped.
 */
function postgresProxy() {
  const state = { dropping: false, dropAfter: '', cutAfter: '' };
  const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    if (state.dropping) return void client.destroy();
    const upstream = connect(5432, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    let cutting = false;
    let swallowed = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (state.cutAfter && text.includes(state.cutAfter)) cutting = true;
      if (cutting || (state.dropAfter && text.includes(state.dropAfter))) state.dropping = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!cutting) return void client.write(chunk);
      swallowed = Buffer.concat([swallowed, chunk]);
      if (swallowed.includes(READY_FOR_QUERY)) {
        client.destroy();
        upstream.destroy();
      }
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await closeServer(server);
  };
  return { server, state, close };
}

describe("a create's 503 says whether the task may exist", () => {
  let proxy: ReturnType<typeof postgresProxy>;
  let pool: pg.Pool;
  let api: FastifyInstance;
  let apiUrl: string;

  beforeAll(async () => {
    proxy = postgresProxy();
    const port = await listen(proxy.server);
    const database = new URL((await h.pool.query('SELECT current_database() AS d')).rows[0].d, 'x:/')
      .pathname;
    // One use per connection, so the insert needs a connection of its own after the template lookup.
    pool = new pg.Pool({
      connectionString: `postgresql://postgres@127.0.0.1:${port}${database}`,
      max: 2,
      maxUses: 1,
    });
    pool.on('error', () => {});
    api = await buildServer(
      {
        pool,
        redis: h.redis,
        dispatcher: h.dispatcher,
        queuePrefix: 'create-outcome',
        logger: createLogger({ name: 'create-outcome-test', level: 'silent' }),
      },
      { authDisabled: true, bodyLimit: 64 * 1024, metricsRequireKey: false },
    );
    await api.listen({ port: 0, host: '127.0.0.1' });
    const address = api.server.address();
    apiUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await api.close();
    await pool.end();
    await proxy.close();
  });

  const create = (context: object, headers: Record<string, string> = {}) =>
    fetch(`${apiUrl}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ namespace: 'shop', name: unique.name, context }),
    }).then(async (response) => ({
      status: response.status,
      // biome-ignore lint/suspicious/noExplicitAny: tests check response bodies field by field
      body: (await response.json()) as any,
    }));

  it('no connection for the insert: nothing was sent, database_unavailable, task_may_exist false', async () => {
    Object.assign(proxy.state, { dropping: false, dropAfter: 'FROM named_tasks', cutAfter: '' });
    const before = await tasksOf(unique.name);
    const answer = await create({ n: 'dropped' }, { 'idempotency-key': 'outcome-1' });
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ code: 'database_unavailable', task_may_exist: false });
    expect(answer.body.detail).toContain('same Idempotency-Key');
    expect(await tasksOf(unique.name)).toEqual(before);
  });

  it('the connection lost after the insert committed: outcome_unknown, task_may_exist true; a retry returns it', async () => {
    Object.assign(proxy.state, { dropping: false, dropAfter: '', cutAfter: 'switchyard_insert_task' });
    const before = await tasksOf(unique.name);
    const answer = await create({ n: 'cut' }, { 'idempotency-key': 'outcome-2' });
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ code: 'outcome_unknown', task_may_exist: true });
    expect(answer.body.detail).toContain('same Idempotency-Key');
    const after = await tasksOf(unique.name);
    expect(after).toHaveLength(before.length + 1);

    Object.assign(proxy.state, { dropping: false, dropAfter: '', cutAfter: '' });
    const retried = await create({ n: 'cut' }, { 'idempotency-key': 'outcome-2' });
    expect(retried).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(after).toContain(retried.body.task.id);
    expect(await tasksOf(unique.name)).toHaveLength(after.length);
  });

  it('Postgres unreachable from the start: database_unavailable, task_may_exist false', async () => {
    Object.assign(proxy.state, { dropping: true, dropAfter: '', cutAfter: '' });
    const answer = await create({ n: 'down' });
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ code: 'database_unavailable', task_may_exist: false });
  });
});
