import { createServer, request as httpRequest, type Server } from 'node:http';
import {
  createSwitchyardClient,
  SwitchyardApiError,
  type SwitchyardClient,
  type SwitchyardEvent,
  SwitchyardNetworkError,
} from '@switchyard/client';
import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
let client: SwitchyardClient;
// No worker runs ce_nobody: these tasks move only when an operator resolves their steps.
const parked = apiTemplate({
  steps: [
    { name: 'a', handler: 'ce_nobody' },
    { name: 'b', handler: 'ce_nobody', depends_on: ['a'] },
  ],
});
const declined = apiTemplate({ steps: [{ name: 'charge', handler: 'ce_declined' }] });

beforeAll(async () => {
  h = await createApiHarness({ events: { pollMs: 50 } });
  await h.register([parked, declined]);
  await h.startWorker([
    defineStepHandler('ce_declined', () => {
      throw new PermanentError('card declined', { errorCode: 'declined' });
    }),
  ]);
  client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
});
afterAll(() => h.close());

let made = 0;
const createParked = async () =>
  (await client.createTask({ namespace: 'shop', name: parked.name, context: { n: ++made } })).task.id;
const resolveAll = async (id: string) => {
  await client.resolveStep(id, 'a', { reason: 'test' });
  await client.resolveStep(id, 'b', { reason: 'test' });
};

async function until(condition: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type Mode = 'pass' | 'refuse-stream' | 'drop-stream';

/**
 * A real HTTP proxy in front of the API that counts what the client asks, and can refuse the
 * event streams (the connection is destroyed unanswered) or drop them once they are open.
 */
async function startProxy(target: string) {
  const counts = { taskReads: 0, streams: 0 };
  let mode: Mode = 'pass';
  const server: Server = createServer((req, res) => {
    const isStream = /^\/v1\/tasks\/[^/]+\/events/.test(req.url ?? '');
    if (isStream) counts.streams += 1;
    else if (req.method === 'GET' && /^\/v1\/tasks\/[^/?]+$/.test(req.url ?? '')) counts.taskReads += 1;
    if (isStream && mode === 'refuse-stream') {
      req.socket.destroy();
      return;
    }
    const upstream = httpRequest(
      `${target}${req.url}`,
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.flushHeaders();
        if (isStream && mode === 'drop-stream') {
          up.destroy();
          res.socket?.destroy();
          return;
        }
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    counts,
    setMode: (next: Mode) => {
      mode = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the client and the event log', () => {
  it('pages through the log with listEvents', async () => {
    const id = await createParked();
    await resolveAll(id);
    let page = await client.listEvents({ limit: 1 });
    const seen: SwitchyardEvent[] = [];
    const deadline = Date.now() + 10_000;
    while (!seen.some((e) => e.taskId === id && e.type === 'task.completed') && Date.now() < deadline) {
      seen.push(...page.events);
      page = await client.listEvents({ limit: 1, ...(page.nextCursor ? { after: page.nextCursor } : {}) });
    }
    expect(seen.filter((e) => e.taskId === id).map((e) => e.type)).toEqual([
      'step.resolved',
      'step.resolved',
      'task.completed',
    ]);
    const failures = await client.listEvents({ types: 'task.failed,step.failed' });
    expect(failures.events.every((e) => e.type === 'task.failed' || e.type === 'step.failed')).toBe(true);
    const bad = await client.listEvents({ types: 'task.complete' }).catch((e) => e);
    expect(bad).toBeInstanceOf(SwitchyardApiError);
    expect(bad.problem.errors).toEqual([expect.objectContaining({ path: '/query/types' })]);
  });

  it('streams a task’s events until its end, and resumes after lastEventId', async () => {
    const id = await createParked();
    const received: SwitchyardEvent[] = [];
    const reading = (async () => {
      for await (const event of client.streamTaskEvents(id)) received.push(event);
    })();
    await client.resolveStep(id, 'a', { reason: 'test' });
    await until(() => received.length === 1);
    await client.resolveStep(id, 'b', { reason: 'test' });
    await reading;
    expect(received.map((e) => e.type)).toEqual(['step.resolved', 'step.resolved', 'task.completed']);

    const resumed: SwitchyardEvent[] = [];
    for await (const event of client.streamTaskEvents(id, { lastEventId: received[0]!.cursor }))
      resumed.push(event);
    expect(resumed.map((e) => e.id)).toEqual(received.slice(1).map((e) => e.id));

    const missing = client.streamTaskEvents('00000000-0000-4000-8000-000000000000');
    const error = await (async () => {
      for await (const _ of missing) return null;
    })().catch((e) => e);
    expect(error).toBeInstanceOf(SwitchyardApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('ends a stream when its signal aborts', async () => {
    const id = await createParked();
    const controller = new AbortController();
    // The rejection is caught at once: the stream may end before resolveStep returns.
    const reading = (async () => {
      for await (const _ of client.streamTaskEvents(id, { signal: controller.signal })) controller.abort();
    })().catch((e) => e);
    await client.resolveStep(id, 'a', { reason: 'test' });
    const error = await reading;
    expect(error).toMatchObject({ name: 'AbortError' });
  });
});

describe('waitForTask', () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let viaProxy: SwitchyardClient;
  beforeAll(async () => {
    proxy = await startProxy(h.url);
    viaProxy = createSwitchyardClient({ baseUrl: proxy.url, apiKey: h.adminKey, retries: 0 });
  });
  afterAll(() => proxy.close());

  it('completes from the stream: one read before, one after the terminal event, however long it takes', async () => {
    proxy.setMode('pass');
    const id = await createParked();
    const before = { ...proxy.counts };
    const waiting = viaProxy.waitForTask(id, { timeoutMs: 20_000, intervalMs: 20, maxIntervalMs: 20 });
    await until(() => proxy.counts.streams === before.streams + 1);
    await resolveAll(id);
    expect((await waiting).status).toBe('complete');
    expect(proxy.counts.taskReads - before.taskReads).toBe(2);
  });

  it('follows a failed task on through an operator’s repair when waiting for complete', async () => {
    proxy.setMode('pass');
    const { task } = await client.createTask({
      namespace: 'shop',
      name: declined.name,
      context: { n: ++made },
    });
    const before = { ...proxy.counts };
    const waiting = viaProxy.waitForTask(task.id, { timeoutMs: 20_000, until: ['complete'] });
    // The first stream ends at task.failed; the second, resumed after it, waits for what comes next.
    await until(() => proxy.counts.streams === before.streams + 2);
    await client.resolveStep(task.id, 'charge', { reason: 'paid offline' });
    expect((await waiting).status).toBe('complete');
  });

  it.each([
    ['cannot be opened', 'refuse-stream'],
    ['drops', 'drop-stream'],
  ] as const)('falls back to polling when the stream %s', async (_, mode) => {
    proxy.setMode(mode);
    const id = await createParked();
    const before = { ...proxy.counts };
    const waiting = viaProxy.waitForTask(id, { timeoutMs: 20_000, intervalMs: 20, maxIntervalMs: 20 });
    // Polling: more reads than the stream would make.
    await until(() => proxy.counts.taskReads - before.taskReads >= 4);
    await resolveAll(id);
    expect((await waiting).status).toBe('complete');
    expect(proxy.counts.streams - before.streams).toBe(1);
  });

  it('reports a stream the API cannot be reached for as a network error', async () => {
    proxy.setMode('refuse-stream');
    const id = await createParked();
    const error = await (async () => {
      for await (const _ of viaProxy.streamTaskEvents(id)) return null;
    })().catch((e) => e);
    expect(error).toBeInstanceOf(SwitchyardNetworkError);
  });
});
