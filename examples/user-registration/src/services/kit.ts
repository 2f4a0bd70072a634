/**
 * The plumbing the four example services share: JSON bodies with a size limit, a router, an
 * idempotency cache, fault injection, counters and the `/admin` API. A service is a list of
 * routes over its own in-memory store; {@link serve} turns it into a real node:http server.
 *
 * Request pipeline: admin routes bypass everything; other calls are counted (with their
 * `X-Correlation-ID`), read, delayed by the injected latency, possibly answered by an injected
 * fault, then replayed from the idempotency cache or handled.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyFaultPatch, type FaultPatch, type FaultSettings, noFaults, workMs } from './faults.ts';
import { createLoad, type InFlight } from './load.ts';

export type { FaultPatch, FaultSettings } from './faults.ts';
export type { InFlight } from './load.ts';

/** A JSON answer. */
export type JsonReply = { status: number; body: unknown; headers?: Record<string, string> };

/** What a route handler receives. */
export type RouteRequest = {
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  body: unknown;
  /** Counts one side effect (a write to the store) against this endpoint. */
  sideEffect(): void;
};

/** One endpoint of a service. */
export type Route = {
  method: 'GET' | 'POST' | 'PATCH';
  /** Like `/users/:id/status`: `:name` segments become `params.name`. */
  path: string;
  handle(request: RouteRequest): JsonReply | Promise<JsonReply>;
};

/** A service: its routes and how to empty its store. */
export type ServiceDefinition = { name: string; routes: readonly Route[]; reset(): void };

/** Answers `status` with a JSON body. */
export function reply(status: number, body: unknown, headers?: Record<string, string>): JsonReply {
  return headers ? { status, body, headers } : { status, body };
}

/** A 422 naming the field and the rule it broke. */
export function invalid(field: string, rule: string): JsonReply {
  return reply(422, { error: `${field} ${rule}`, field, rule });
}

/** The body as a plain object, or null when it is anything else. */
export function objectBody(body: unknown): Record<string, unknown> | null {
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : null;
}

// ---------------------------------------------------------------------------------------------
// Faults and counters

/** Per-endpoint (`POST /users`) counts. */
export type EndpointCounters = { calls: number; sideEffects: number; replays: number; injected: number };

/** What a service has seen since start or the last reset. */
export type ServiceCounters = {
  endpoints: Record<string, EndpointCounters>;
  /** Every distinct `X-Correlation-ID` received, in arrival order. */
  correlationIds: string[];
  callsWithoutCorrelationId: number;
};

function emptyCounters(): ServiceCounters {
  return { endpoints: {}, correlationIds: [], callsWithoutCorrelationId: 0 };
}

function endpointCounters(counters: ServiceCounters, endpoint: string): EndpointCounters {
  counters.endpoints[endpoint] ??= { calls: 0, sideEffects: 0, replays: 0, injected: 0 };
  return counters.endpoints[endpoint];
}

// ---------------------------------------------------------------------------------------------
// Idempotency

type CachedReply = { fingerprint: string; reply: Promise<JsonReply> };

/**
 * Stripe-style idempotency: the first reply to a key is kept and returned for every repeat, and a
 * repeat that is still running is awaited rather than run twice. Keys are scoped by method and
 * path, so a handler may use its one key for several different calls. 5xx and 429 are not kept:
 * nothing happened, and the retry must be allowed to happen.
 */
function createIdempotencyCache() {
  const entries = new Map<string, CachedReply>();
  return {
    clear: () => entries.clear(),
    async run(scope: string, body: unknown, produce: () => Promise<JsonReply>) {
      const fingerprint = createHash('sha256')
        .update(JSON.stringify(body) ?? '')
        .digest('hex');
      const cached = entries.get(scope);
      if (cached && cached.fingerprint !== fingerprint) {
        return {
          reply: reply(422, { error: 'Idempotency-Key reused with a different request body' }),
          replayed: false,
        };
      }
      if (cached) return { reply: await cached.reply, replayed: true };
      const pending = produce();
      entries.set(scope, { fingerprint, reply: pending });
      const result = await pending.catch((err: unknown) => {
        entries.delete(scope);
        throw err;
      });
      if (result.status >= 500 || result.status === 429) entries.delete(scope);
      return { reply: result, replayed: false };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Routing and bodies

type Match = { route: Route; params: Record<string, string> } | { reply: JsonReply };

function matchRoute(routes: readonly Route[], method: string, pathname: string): Match {
  const segments = pathname.split('/').filter(Boolean);
  let pathMatched = false;
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    pathMatched = true;
  }
  return pathMatched
    ? { reply: reply(405, { error: `${method} not allowed on ${pathname}` }) }
    : { reply: reply(404, { error: `no route for ${method} ${pathname}` }) };
}

function matchPath(pattern: string, segments: string[]): Record<string, string> | null {
  const parts = pattern.split('/').filter(Boolean);
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const segment = segments[i] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(segment);
    else if (part !== segment) return null;
  }
  return params;
}

/** Reads a JSON body (undefined when empty), or the 413/400 reply to send instead. */
async function readJson(
  req: IncomingMessage,
  limitBytes: number,
): Promise<{ body: unknown } | { reply: JsonReply }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) return { reply: reply(413, { error: `body exceeds ${limitBytes} bytes` }) };
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return { body: undefined };
  try {
    return { body: JSON.parse(text) };
  } catch {
    return { reply: reply(400, { error: 'body is not valid JSON' }) };
  }
}

function send(res: ServerResponse, answer: JsonReply): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(answer.body ?? null);
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(payload);
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// The running service

/** In-process access to a running service's faults and counters (the same state `/admin` shows). */
export type ServiceAdmin = {
  faults(): FaultSettings;
  /** @throws TypeError naming the field and rule for an invalid patch. */
  setFaults(patch: FaultPatch): FaultSettings;
  /** Closes the listener (connections are refused); with `forMs`, listens again after that long. */
  down(options?: { forMs?: number }): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  isUp(): boolean;
  counters(): ServiceCounters;
  /** Requests in flight as the service sees them (received, not answered yet), and their peak. */
  inFlight(): InFlight;
  /** Starts a new peak of requests in flight from what is in flight now. */
  resetPeakInFlight(): void;
  /** Empties the store, the idempotency cache and the counters, clears faults, and comes up. */
  reset(): Promise<void>;
};

/** A started service. */
export type RunningService = {
  name: string;
  url: string;
  port: number;
  admin: ServiceAdmin;
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
};

/** Where and how to listen. */
export type ServeOptions = {
  /** Default 0: any free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Largest accepted request body; default 64 KiB. */
  bodyLimitBytes?: number;
  /** Source of randomness for `errorRate`; default `Math.random`. */
  random?: () => number;
};

type State = {
  definition: ServiceDefinition;
  faults: FaultSettings;
  counters: ServiceCounters;
  idempotency: ReturnType<typeof createIdempotencyCache>;
  load: ReturnType<typeof createLoad>;
  /** Aborted when the listener goes down, so delayed requests stop instead of writing after it. */
  lifecycle: AbortController;
  options: Required<ServeOptions>;
};

/** Starts `definition` as a node:http server. Resolves once it listens. */
export async function serve(
  definition: ServiceDefinition,
  options: ServeOptions = {},
): Promise<RunningService> {
  const state: State = {
    definition,
    faults: noFaults(),
    counters: emptyCounters(),
    idempotency: createIdempotencyCache(),
    load: createLoad(),
    lifecycle: new AbortController(),
    options: { port: 0, host: '127.0.0.1', bodyLimitBytes: 64 * 1024, random: Math.random, ...options },
  };
  const server = createServer((req, res) => {
    handleRequest(state, admin, req, res).catch((err: unknown) =>
      send(res, reply(500, { error: String(err) })),
    );
  });
  const listener = createListener(server, state);
  const admin = createAdmin(state, listener);
  await listener.up();
  const port = listener.port();
  return {
    name: definition.name,
    url: `http://${state.options.host}:${port}`,
    port,
    admin,
    close: () => listener.close(),
  };
}

/** Long enough for loopback FINs to reach in-process clients; see `down`. */
const DOWN_SETTLE_MS = 20;

function createListener(server: Server, state: State) {
  let port = state.options.port;
  let upTimer: NodeJS.Timeout | undefined;
  const stop = async () => {
    clearTimeout(upTimer);
    state.lifecycle.abort();
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive sockets would keep serving a "down" service: drop them so calls really fail.
    server.closeAllConnections();
    await closed;
  };
  const up = async () => {
    clearTimeout(upTimer);
    if (server.listening) return;
    state.lifecycle = new AbortController();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, state.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
  };
  const down = async (options: { forMs?: number } = {}) => {
    await stop();
    // Clients learn of the dropped keep-alive sockets one I/O turn later; until then a pooled
    // socket fails with ECONNRESET. Waiting a moment lets in-process callers (tests, the demo)
    // see what a down service really gives: a refused connection.
    await new Promise((resolve) => setTimeout(resolve, DOWN_SETTLE_MS));
    if (options.forMs !== undefined) upTimer = setTimeout(() => void up().catch(() => {}), options.forMs);
  };
  return { up, down, close: stop, isUp: () => server.listening, port: () => port };
}

type Listener = ReturnType<typeof createListener>;

function createAdmin(state: State, listener: Listener): ServiceAdmin {
  const admin: ServiceAdmin = {
    faults: () => structuredClone(state.faults),
    setFaults(patch) {
      state.faults = applyFaultPatch(state.faults, patch);
      return admin.faults();
    },
    counters: () => structuredClone(state.counters),
    inFlight: () => state.load.inFlight(),
    resetPeakInFlight: () => state.load.resetPeak(),
    async reset() {
      state.definition.reset();
      state.idempotency.clear();
      state.counters = emptyCounters();
      state.faults = noFaults();
      await listener.up();
    },
    down: listener.down,
    up: listener.up,
    isUp: listener.isUp,
  };
  return admin;
}

async function handleRequest(state: State, admin: ServiceAdmin, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://service');
  const method = req.method ?? 'GET';
  if (url.pathname.startsWith('/admin/'))
    return handleAdmin(state, admin, `${method} ${url.pathname}`, req, res);
  const match = matchRoute(state.definition.routes, method, url.pathname);
  if ('reply' in match) return send(res, match.reply);
  const endpoint = endpointCounters(state.counters, `${match.route.method} ${match.route.path}`);
  state.load.arrived();
  try {
    await handleCall(state, endpoint, match, url, req, res);
  } finally {
    state.load.left();
  }
}

/** A counted call, from reading its body to sending its answer, worked on within the capacity. */
async function handleCall(
  state: State,
  endpoint: EndpointCounters,
  match: { route: Route; params: Record<string, string> },
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const correlationId = recordCall(state.counters, endpoint, req);
  const echo = correlationId ? { 'x-correlation-id': correlationId } : undefined;
  const read = await readJson(req, state.options.bodyLimitBytes);
  if ('reply' in read) return send(res, read.reply);
  const answer = await state.load.gate(state.faults.capacity, async () => {
    const { signal } = state.lifecycle;
    if (!(await sleep(workMs(state.faults), signal))) return null;
    return answerCall(state, endpoint, match, url, req, read.body);
  });
  if (answer) send(res, { ...answer, headers: { ...answer.headers, ...echo } });
}

/** The call's answer: an injected fault, a replay of the first answer to its key, or the route's. */
async function answerCall(
  state: State,
  endpoint: EndpointCounters,
  match: { route: Route; params: Record<string, string> },
  url: URL,
  req: IncomingMessage,
  body: unknown,
): Promise<JsonReply> {
  const injected = injectedFault(state);
  if (injected) {
    endpoint.injected += 1;
    return injected;
  }
  const request: RouteRequest = {
    params: match.params,
    query: url.searchParams,
    body,
    sideEffect() {
      endpoint.sideEffects += 1;
    },
  };
  const answer = await answerOnce(state, match.route, url.pathname, req, request);
  if (!answer.replayed) return answer.reply;
  endpoint.replays += 1;
  return { ...answer.reply, headers: { ...answer.reply.headers, 'idempotent-replayed': 'true' } };
}

function recordCall(
  counters: ServiceCounters,
  endpoint: EndpointCounters,
  req: IncomingMessage,
): string | null {
  endpoint.calls += 1;
  const header = req.headers['x-correlation-id'];
  const id = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!id) {
    counters.callsWithoutCorrelationId += 1;
    return null;
  }
  if (!counters.correlationIds.includes(id)) counters.correlationIds.push(id);
  return id;
}

function injectedFault(state: State): JsonReply | null {
  const { faults } = state;
  const status =
    faults.sequence.shift() ??
    (faults.errorRate > 0 && state.options.random() < faults.errorRate ? faults.errorStatus : null);
  if (status === null) return null;
  const withRetryAfter = faults.retryAfter !== null && (status === 429 || status === 503);
  return reply(
    status,
    { error: `injected fault: HTTP ${status}` },
    withRetryAfter ? { 'retry-after': faults.retryAfter as string } : undefined,
  );
}

async function answerOnce(
  state: State,
  route: Route,
  pathname: string,
  req: IncomingMessage,
  request: RouteRequest,
) {
  const header = req.headers['idempotency-key'];
  const key = Array.isArray(header) ? header[0] : header;
  const produce = async () => route.handle(request);
  // GETs change nothing, so they need no replay; only writes are made exactly-once.
  if (!key || route.method === 'GET') return { reply: await produce(), replayed: false };
  return state.idempotency.run(`${route.method} ${pathname} ${key}`, request.body, produce);
}

// ---------------------------------------------------------------------------------------------
// /admin over HTTP

/** The admin routes; `POST /admin/up` only answers, since a down service cannot be reached. */
async function handleAdmin(
  state: State,
  admin: ServiceAdmin,
  route: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const read = await readJson(req, state.options.bodyLimitBytes);
  if ('reply' in read) return send(res, read.reply);
  const body = objectBody(read.body) ?? {};
  if (route === 'GET /admin/faults') return send(res, reply(200, admin.faults()));
  if (route === 'POST /admin/faults') return send(res, setFaultsReply(admin, body));
  if (route === 'GET /admin/counters') return send(res, reply(200, admin.counters()));
  if (route === 'POST /admin/reset') {
    await admin.reset();
    return send(res, reply(200, { reset: true }));
  }
  if (route === 'POST /admin/up') return send(res, reply(200, { up: true }));
  if (route === 'POST /admin/down') return goDown(admin, body, res);
  send(res, reply(404, { error: `no admin route ${route}` }));
}

function setFaultsReply(admin: ServiceAdmin, body: Record<string, unknown>): JsonReply {
  try {
    return reply(200, admin.setFaults(body));
  } catch (err) {
    return reply(400, { error: (err as Error).message });
  }
}

/**
 * Over HTTP, `up` cannot be reached once the listener is closed, so `down` takes `forMs` (when to
 * listen again); without it only the in-process `admin.up()` or a restart brings the service back.
 */
function goDown(admin: ServiceAdmin, body: Record<string, unknown>, res: ServerResponse): void {
  const { forMs } = body;
  if (forMs !== undefined && !(Number.isInteger(forMs) && (forMs as number) >= 0)) {
    send(res, reply(400, { error: 'forMs must be a non-negative integer of ms' }));
    return;
  }
  // Answer first, then close: the caller should learn the service went down on purpose.
  res.once('finish', () => void admin.down({ forMs: forMs as number | undefined }));
  send(res, reply(202, { down: true, forMs: forMs ?? null }));
}
