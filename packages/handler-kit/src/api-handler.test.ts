import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, PermanentError, RetryableError } from '@switchyard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyHttpResponse,
  classifyTransportError,
  defineApiStepHandler,
  HttpConflictError,
  parseRetryAfter,
} from './api-handler.ts';
import type { StepHandlerContext } from './handler.ts';

const NOW = new Date('2025-06-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delta-seconds as milliseconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(['2', '9'], NOW)).toBe(2000);
  });

  it('reads an HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', NOW)).toBe(0);
  });

  it('returns null for absent or garbage values', () => {
    for (const value of [undefined, null, '', '  ', 'soon', '-5', '1.5', '12abc', []]) {
      expect(parseRetryAfter(value, NOW)).toBeNull();
    }
  });
});

describe('classifyHttpResponse', () => {
  it('maps 2xx to success and 409 to conflict', () => {
    for (const status of [200, 201, 202, 204])
      expect(classifyHttpResponse(status, {}, NOW)).toEqual({ kind: 'success' });
    expect(classifyHttpResponse(409, {}, NOW)).toEqual({ kind: 'conflict' });
  });

  it('maps other 4xx (and unfollowed 3xx) to permanent http_<status>', () => {
    for (const status of [400, 401, 402, 403, 404, 410, 413, 422, 301]) {
      expect(classifyHttpResponse(status, {}, NOW)).toEqual({
        kind: 'permanent',
        errorCode: `http_${status}`,
      });
    }
  });

  it('maps 408, 429 and 5xx to retryable with Retry-After in ms', () => {
    expect(classifyHttpResponse(503, { 'retry-after': '2' }, NOW)).toEqual({
      kind: 'retryable',
      errorCode: 'http_503',
      retryAfterMs: 2000,
    });
    expect(classifyHttpResponse(429, { 'Retry-After': 'Sun, 01 Jun 2025 12:01:00 GMT' }, NOW)).toMatchObject({
      retryAfterMs: 60_000,
    });
    for (const status of [408, 500, 502, 504]) {
      expect(classifyHttpResponse(status, {}, NOW)).toEqual({
        kind: 'retryable',
        errorCode: `http_${status}`,
        retryAfterMs: null,
      });
    }
  });
});

describe('classifyTransportError', () => {
  it('names network failures and keeps them retryable', () => {
    expect(classifyTransportError('ECONNREFUSED')).toMatchObject({
      kind: 'retryable',
      errorCode: 'connection_refused',
    });
    expect(classifyTransportError('ECONNABORTED')).toMatchObject({ kind: 'retryable', errorCode: 'timeout' });
    expect(classifyTransportError('ETIMEDOUT')).toMatchObject({ kind: 'retryable', errorCode: 'timeout' });
    expect(classifyTransportError(undefined)).toMatchObject({
      kind: 'retryable',
      errorCode: 'network_error',
    });
    expect(classifyTransportError('ERR_INVALID_URL')).toEqual({
      kind: 'permanent',
      errorCode: 'invalid_request',
    });
  });
});

type Seen = { method: string; url: string; headers: IncomingHttpHeaders; body: string };

/** A tiny service whose path picks the answer; it records what every request carried. */
async function startTestServer(): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(data));
    };
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/ok') send(200, { ok: true });
    else if (path === '/conflict') send(409, { error: 'already exists' });
    else if (path === '/existing') send(200, { id: 'existing-1' });
    else if (path === '/invalid') send(422, { error: 'email is invalid' });
    else if (path === '/busy') send(503, { error: 'overloaded' }, { 'retry-after': '2' });
    else if (path === '/slow') {
      const timer = setTimeout(() => send(200, {}), 2000);
      res.on('close', () => clearTimeout(timer));
    } else send(404, { error: 'no such route' });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function closedPortUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** What a handler run threw; fails the test when it did not throw. */
async function failureOf(result: unknown): Promise<Error & Record<string, unknown>> {
  try {
    await result;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the handler to fail');
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function fakeCtx(baseUrl: string, overrides: Partial<StepHandlerContext> = {}): StepHandlerContext {
  return {
    task: { id: 't1', namespace: 'ns', name: 'task', version: '1.0.0', context: {}, correlationId: 'corr-1' },
    step: {
      id: 's1',
      name: 'step',
      attempt: 1,
      maxAttempts: 3,
      dependentSystem: 'svc',
      config: { base_url: baseUrl },
    },
    parents: {},
    idempotencyKey: 't1.step',
    signal: new AbortController().signal,
    log: silent,
    publish() {},
    noServiceCall() {},
    batch: null,
    async checkpoint() {},
    ...overrides,
  };
}

function getHandler(path: string, extra: { timeoutMs?: number } = {}) {
  return defineApiStepHandler({
    name: 'get_thing',
    ...extra,
    call: async (_ctx, http) => (await http.request({ method: 'GET', url: path })).data,
  });
}

describe('defineApiStepHandler against a real server', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
  });

  it('sends the correlation id, idempotency key and a traceparent derived from the correlation id', async () => {
    const handler = defineApiStepHandler({
      name: 'post_thing',
      call: async (_ctx, http) => (await http.request({ method: 'POST', url: '/ok', data: { a: 1 } })).data,
    });
    await expect(handler.run(fakeCtx(server.url))).resolves.toEqual({ ok: true });
    await handler.run(
      fakeCtx(server.url, { step: { ...fakeCtx('').step, attempt: 2, config: { base_url: server.url } } }),
    );
    const [first, second] = server.seen.slice(-2);
    expect(first?.headers['x-correlation-id']).toBe('corr-1');
    expect(first?.headers['idempotency-key']).toBe('t1.step');
    expect(second?.headers['idempotency-key']).toBe('t1.step');
    expect(first?.body).toBe('{"a":1}');
    const [a, b] = [first?.headers.traceparent, second?.headers.traceparent].map((v) => String(v).split('-'));
    expect(a).toHaveLength(4);
    expect(a?.[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(a?.[1]).toBe(b?.[1]);
    expect(a?.[2]).not.toBe(b?.[2]);
  });

  it('says the attempt made no service call when call answered without a request, and only then', async () => {
    const handler = defineApiStepHandler<{ cached: boolean }>({
      name: 'maybe_call',
      call: async (ctx, http) =>
        ctx.task.context.cached ? { cached: true } : (await http.request({ method: 'GET', url: '/ok' })).data,
    });
    const calls = { cached: 0, fetched: 0 };
    const run = (cached: boolean) =>
      handler.run({
        ...fakeCtx(server.url),
        task: { ...fakeCtx('').task, context: { cached } },
        noServiceCall: () => {
          calls[cached ? 'cached' : 'fetched'] += 1;
        },
      } as never);
    await expect(run(true)).resolves.toEqual({ cached: true });
    await expect(run(false)).resolves.toEqual({ ok: true });
    expect(calls).toEqual({ cached: 1, fetched: 0 });
  });

  it('resolves a 409 through onConflict', async () => {
    const handler = defineApiStepHandler({
      name: 'create_thing',
      call: async (_ctx, http) => (await http.request({ method: 'POST', url: '/conflict', data: {} })).data,
      onConflict: async (_ctx, http, response) => ({
        ...((await http.request({ method: 'GET', url: '/existing' })).data as object),
        conflictStatus: response.status,
      }),
    });
    await expect(handler.run(fakeCtx(server.url))).resolves.toEqual({
      id: 'existing-1',
      conflictStatus: 409,
    });
  });

  it('fails a 409 permanently without onConflict', async () => {
    const error = await failureOf(getHandler('/conflict').run(fakeCtx(server.url)));
    expect(error).toBeInstanceOf(HttpConflictError);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ errorCode: 'http_409', httpStatus: 409 });
  });

  it('turns a 422 into a PermanentError naming the request and the service message', async () => {
    const error = await failureOf(getHandler('/invalid').run(fakeCtx(server.url)));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ errorCode: 'http_422', httpStatus: 422 });
    expect(error.message).toBe(`GET ${server.url}/invalid failed with HTTP 422: email is invalid`);
  });

  it('turns a 503 with Retry-After: 2 into a RetryableError with retryAfter 2', async () => {
    const error = await failureOf(getHandler('/busy').run(fakeCtx(server.url)));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ retryAfter: 2, httpStatus: 503, errorCode: 'http_503' });
  });

  it('turns a refused connection into a retryable connection_refused', async () => {
    const error = await failureOf(getHandler('/ok').run(fakeCtx(await closedPortUrl())));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ errorCode: 'connection_refused', retryAfter: null, httpStatus: null });
  });

  it('turns a request timeout into a retryable timeout', async () => {
    const error = await failureOf(getHandler('/slow', { timeoutMs: 50 }).run(fakeCtx(server.url)));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.errorCode).toBe('timeout');
  });

  it('stops the request when the step signal aborts', async () => {
    const controller = new AbortController();
    const running = getHandler('/slow').run(fakeCtx(server.url, { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('cancelled')), 20);
    await expect(running).rejects.toMatchObject({ name: 'RetryableError', errorCode: 'aborted' });
  });

  it('prefers the env base URL, read once at definition', async () => {
    const env: Record<string, string | undefined> = { THING_URL: server.url };
    const handler = defineApiStepHandler({
      name: 'env_thing',
      baseUrlEnv: 'THING_URL',
      env,
      call: async (_ctx, http) => (await http.request({ method: 'GET', url: '/ok' })).data,
    });
    env.THING_URL = 'http://127.0.0.1:1';
    await expect(handler.run(fakeCtx('http://127.0.0.1:1'))).resolves.toEqual({ ok: true });
  });

  it('rejects a bad env URL at definition and a missing base_url at run time', async () => {
    expect(() =>
      defineApiStepHandler({ name: 'x', baseUrlEnv: 'U', env: { U: 'not a url' }, call: async () => null }),
    ).toThrow(ConfigError);
    await expect(getHandler('/ok').run(fakeCtx(''))).rejects.toMatchObject({
      name: 'PermanentError',
      errorCode: 'invalid_handler_config',
    });
  });
});
