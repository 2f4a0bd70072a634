import { connect } from 'node:net';
import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const ok = apiTemplate({ steps: [{ name: 'work', handler: 'ev_ok' }] });
const declined = apiTemplate({ steps: [{ name: 'charge', handler: 'ev_declined' }] });
const elsewhere = apiTemplate({ namespace: 'other', steps: [{ name: 'work', handler: 'ev_ok' }] });
// No worker runs ev_nobody: these tasks move only when an operator resolves their steps.
const parked = apiTemplate({
  steps: [
    { name: 'a', handler: 'ev_nobody' },
    { name: 'b', handler: 'ev_nobody', depends_on: ['a'] },
  ],
});
const billing = apiTemplate({
  default_dependent_system: 'ev_billing',
  steps: [{ name: 's', handler: 'ev_nobody' }],
});

beforeAll(async () => {
  h = await createApiHarness({ events: { pollMs: 50 } });
  await h.register([ok, declined, elsewhere, parked, billing]);
  await h.startWorker([
    defineStepHandler('ev_ok', () => ({ done: true, api_token: 'hunter2' })),
    defineStepHandler('ev_declined', () => {
      throw new PermanentError('card declined', { errorCode: 'declined' });
    }),
  ]);
});
afterAll(() => h.close());

/** Waits until `read` gives a value `done` accepts (the log shows a commit only once it settles). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let made = 0;
async function create(template: { namespace: string; name: string }, context: unknown = { n: ++made }) {
  const { status, body } = await h.call('POST', '/v1/tasks', {
    body: { namespace: template.namespace, name: template.name, context },
  });
  expect(status).toBe(201);
  return body.task.id as string;
}

async function resolve(taskId: string, step: string) {
  const { status } = await h.call('POST', `/v1/tasks/${taskId}/steps/${step}/resolve`, {
    body: { results: { by: 'hand', password: 'hunter2' }, reason: 'test' },
  });
  expect(status).toBe(200);
}

/** Every event of the log a key sees, paging with `limit`. */
async function allEvents(query = '', key?: string, limit = 100) {
  const events = [];
  let after: string | null = null;
  for (;;) {
    const { status, body } = await h.call(
      'GET',
      `/v1/events?limit=${limit}${query}${after ? `&after=${after}` : ''}`,
      key === undefined ? {} : { key },
    );
    expect(status).toBe(200);
    events.push(...body.events);
    if (body.events.length === 0) return events;
    after = body.nextCursor;
  }
}

const cursorKey = (cursor: string) => cursor.split('.').map(BigInt);
const ascending = (cursors: string[]) =>
  cursors.every((cursor, i) => {
    if (i === 0) return true;
    const [tx, pos] = cursorKey(cursor);
    const [ptx, ppos] = cursorKey(cursors[i - 1]!);
    return tx! > ptx! || (tx === ptx && pos! > ppos!);
  });

type Frame = { id?: string; event?: string; data?: string; comment?: string };

/** A Server-Sent Events response read frame by frame, comments included. */
async function openStream(base: string, taskId: string, init: { key: string; lastEventId?: string }) {
  const controller = new AbortController();
  const response = await fetch(`${base}/v1/tasks/${taskId}/events`, {
    headers: {
      authorization: `Bearer ${init.key}`,
      ...(init.lastEventId ? { 'last-event-id': init.lastEventId } : {}),
    },
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;
  /** The next frame, or null once the server has ended the stream. */
  async function next(): Promise<Frame | null> {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end !== -1) {
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: Frame = {};
        for (const line of text.split('\n')) {
          if (line.startsWith(':')) frame.comment = line.slice(1).trim();
          else {
            const [field, ...rest] = line.split(': ');
            frame[field as 'id' | 'event' | 'data'] = rest.join(': ');
          }
        }
        return frame;
      }
      if (ended) return null;
      const chunk = await reader.read();
      if (chunk.done) ended = true;
      else buffer += decoder.decode(chunk.value, { stream: true });
    }
  }
  /** Frames that are events (heartbeats skipped), until `count` or the end of the stream. */
  async function events(count = Number.POSITIVE_INFINITY) {
    const frames: Frame[] = [];
    while (frames.length < count) {
      const frame = await next();
      if (!frame) break;
      if (frame.event) frames.push(frame);
    }
    return frames;
  }
  /** Reads to the end: the stream must have been ended by the server with nothing more. */
  async function rest() {
    return events();
  }
  return { response, next, events, rest, close: () => controller.abort() };
}

describe('GET /v1/events', () => {
  it('pages through the log in commit order, after a cursor, filtered by type', async () => {
    const done = [await create(ok), await create(ok)];
    const failed = await create(declined);
    const all = await eventually(
      () => allEvents(),
      (events) =>
        [...done, failed].every((id) => events.some((e) => e.taskId === id && e.type.startsWith('task.'))),
    );
    const mine = all.filter((e) => [...done, failed].includes(e.taskId));
    expect(
      mine
        .filter((e) => e.type === 'task.completed')
        .map((e) => e.taskId)
        .sort(),
    ).toEqual([...done].sort());
    expect(mine.filter((e) => e.taskId === failed).map((e) => e.type)).toEqual([
      'step.failed',
      'task.failed',
    ]);
    expect(ascending(all.map((e) => e.cursor))).toBe(true);
    expect(mine[0]).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      namespace: 'shop',
      correlationId: expect.any(String),
      occurredAt: expect.stringMatching(/Z$/),
    });
    expect(mine.find((e) => e.type === 'step.failed')!.data).toMatchObject({
      step: 'charge',
      status: 'error',
      error: { code: 'declined' },
    });

    // One at a time gives the same log; `after` starts past a cursor.
    expect((await allEvents('', undefined, 1)).map((e) => e.id)).toEqual(all.map((e) => e.id));
    const second = await h.call('GET', `/v1/events?after=${all[0]!.cursor}&limit=2`);
    expect(second.body.events.map((e: { id: string }) => e.id)).toEqual(all.slice(1, 3).map((e) => e.id));
    expect(second.body.nextCursor).toBe(all[2]!.cursor);
    // Past the end: an empty page, and the same cursor to ask again with.
    const last = all.at(-1)!.cursor;
    expect((await h.call('GET', `/v1/events?after=${last}`)).body).toEqual({ events: [], nextCursor: last });

    const failures = await allEvents('&types=task.failed,step.failed');
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures.map((e) => e.type))).toEqual(new Set(['task.failed', 'step.failed']));
    expect(failures.map((e) => e.id)).toEqual(
      all.filter((e) => e.type === 'task.failed' || e.type === 'step.failed').map((e) => e.id),
    );
  });

  it("shows a key restricted to namespaces only their events, and no breaker's", async () => {
    const here = await create(ok);
    const there = await create(elsewhere);
    const forced = await h.call('POST', '/v1/breakers/ev_billing/open', { body: { reason: 'maintenance' } });
    expect(forced.status).toBe(200);
    const all = await eventually(
      () => allEvents(),
      (events) =>
        [here, there].every((id) => events.some((e) => e.taskId === id)) &&
        events.some((e) => e.type === 'breaker.opened'),
    );
    expect(all.find((e) => e.type === 'breaker.opened')).toMatchObject({
      namespace: null,
      taskId: null,
      data: { dependent_system: 'ev_billing', state: 'open' },
    });
    const shopOnly = await allEvents('', await h.key(['tasks:read'], ['shop']));
    expect(shopOnly.map((e) => e.id)).toEqual(all.filter((e) => e.namespace === 'shop').map((e) => e.id));
    expect(shopOnly.some((e) => e.taskId === here)).toBe(true);
  });

  it('answers a bad cursor, an unknown type or a limit out of range with a 400 naming the field', async () => {
    const cases: [string, string, string][] = [
      ['after=12', '/query/after', 'invalid_format'],
      ['after=99999999999999999999.1', '/query/after', 'invalid_format'],
      ['after=9999999999999999999.1', '/query/after', 'cursor'],
      ['types=task.complete', '/query/types', 'event_type'],
      ['types=task.completed,Bad', '/query/types', 'event_type'],
      ['limit=0', '/query/limit', 'too_small'],
      ['limit=1001', '/query/limit', 'too_big'],
      ['limit=ten', '/query/limit', 'invalid_type'],
    ];
    for (const [query, path, rule] of cases) {
      const { status, body, headers } = await h.call('GET', `/v1/events?${query}`);
      expect({ query, status, type: headers.get('content-type') }).toEqual({
        query,
        status: 400,
        type: 'application/problem+json; charset=utf-8',
      });
      expect({ query, errors: body.errors }).toEqual({
        query,
        errors: [expect.objectContaining({ path, rule })],
      });
    }
    // A handler event name is a type like any other.
    expect((await h.call('GET', '/v1/events?types=user.registered')).body).toEqual({
      events: [],
      nextCursor: null,
    });
    const noScope = await h.call('GET', '/v1/events', { key: await h.key(['tasks:write']) });
    expect(noScope.status).toBe(403);
  });
});

describe('GET /v1/tasks/{id}/events', () => {
  it('sends past events, then live ones in order, and ends after the terminal event', async () => {
    const id = await create(parked);
    await resolve(id, 'a');
    await eventually(
      () => allEvents('&types=step.resolved'),
      (events) => events.some((e) => e.taskId === id),
    );
    const stream = await openStream(h.url, id, { key: h.adminKey });
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const [past] = await stream.events(1);
    expect(past).toMatchObject({ event: 'step.resolved' });
    // The event as GET /v1/events shows it; secret-named values redacted as in every answer.
    expect(JSON.parse(past!.data!)).toMatchObject({
      type: 'step.resolved',
      taskId: id,
      cursor: past!.id,
      data: { step: 'a', results: { by: 'hand', password: '[redacted]' } },
    });

    await resolve(id, 'b');
    const live = await stream.rest();
    expect(live.map((f) => f.event)).toEqual(['step.resolved', 'task.completed']);
    expect(JSON.parse(live[0]!.data!).data.step).toBe('b');
    const ids = [past!.id!, ...live.map((f) => f.id!)];
    expect(ascending(ids)).toBe(true);
    expect(live.map((f) => JSON.parse(f.data!).cursor)).toEqual(ids.slice(1));
  });

  it('resumes after Last-Event-ID without repeats, and ends at once after the end was seen', async () => {
    const id = await create(parked);
    await resolve(id, 'a');
    const first = await openStream(h.url, id, { key: h.adminKey });
    const [a] = await first.events(1);
    first.close();

    await resolve(id, 'b');
    const resumed = await openStream(h.url, id, { key: h.adminKey, lastEventId: a!.id! });
    const rest = await resumed.rest();
    expect(rest.map((f) => [f.event, JSON.parse(f.data!).data.step ?? null])).toEqual([
      ['step.resolved', 'b'],
      ['task.completed', null],
    ]);

    const after = await openStream(h.url, id, { key: h.adminKey, lastEventId: rest.at(-1)!.id! });
    expect(await after.rest()).toEqual([]);
    // From the start again: the whole story, and the end.
    const replay = await openStream(h.url, id, { key: h.adminKey });
    expect((await replay.rest()).map((f) => f.event)).toEqual([
      'step.resolved',
      'step.resolved',
      'task.completed',
    ]);
  });

  it('ends at task.failed; resumed after it, the stream follows the retried task to its end', async () => {
    const id = await create(parked);
    const cancelledAfter = await h.call('POST', `/v1/tasks/${id}/cancel`, { body: { reason: 'not needed' } });
    expect(cancelledAfter.status).toBe(200);
    const cancelled = await openStream(h.url, id, { key: h.adminKey });
    expect((await cancelled.rest()).map((f) => f.event)).toEqual(['task.cancelled']);

    const failing = await create(declined);
    const failed = await openStream(h.url, failing, { key: h.adminKey });
    const frames = await failed.rest();
    expect(frames.map((f) => f.event)).toEqual(['step.failed', 'task.failed']);
    // Resumed after task.failed, the stream stays open for what an operator does next.
    const following = await openStream(h.url, failing, { key: h.adminKey, lastEventId: frames[1]!.id! });
    await resolve(failing, 'charge');
    expect((await following.rest()).map((f) => f.event)).toEqual(['step.resolved', 'task.completed']);
  });

  it('answers 404 for an unknown task, or one in a namespace the key may not see; 400 for a bad Last-Event-ID', async () => {
    const unknown = await h.call('GET', '/v1/tasks/00000000-0000-4000-8000-000000000000/events');
    expect(unknown).toMatchObject({ status: 404, body: { code: 'not_found' } });
    const there = await create(elsewhere);
    const shopKey = await h.key(['tasks:read'], ['shop']);
    const hidden = await h.call('GET', `/v1/tasks/${there}/events`, { key: shopKey });
    expect(hidden).toMatchObject({ status: 404, body: { code: 'not_found' } });
    const bad = await h.call('GET', `/v1/tasks/${there}/events`, { headers: { 'last-event-id': 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ path: '/headers/last-event-id' })]);
  });
});

describe('a task event stream and the server timeouts', () => {
  let short: ApiHarness;
  beforeAll(async () => {
    short = await createApiHarness({
      timeouts: { idleMs: 300, requestMs: 400, headersMs: 300 },
      // Heartbeats far apart: the stream must survive silences longer than the idle timeout.
      events: { pollMs: 50, heartbeatMs: 1_500 },
    });
    await short.register([parked]);
  });
  afterAll(() => short.close());

  it('outlives the idle and request timeouts, with heartbeats, and still ends at the terminal event', async () => {
    const id = (
      await short.call('POST', '/v1/tasks', {
        body: { namespace: 'shop', name: parked.name, context: { n: ++made } },
      })
    ).body.task.id;
    const stream = await openStream(short.url, id, { key: short.adminKey });
    expect(stream.response.status).toBe(200);
    // A silent connection opened after the stream is cut by the server's timeouts...
    const witness = connect({ host: '127.0.0.1', port: Number(new URL(short.url).port) });
    await new Promise<void>((done) => witness.on('close', () => done()));
    // ...the stream is not: it is still there at its first heartbeat, after a silence five
    // times the idle timeout, and then gets its events and its end.
    const heartbeat = await stream.next();
    expect(heartbeat).toEqual({ comment: 'keep-alive' });
    for (const step of ['a', 'b']) {
      const { status } = await short.call('POST', `/v1/tasks/${id}/steps/${step}/resolve`, {
        body: { reason: 'test' },
      });
      expect(status).toBe(200);
    }
    expect((await stream.rest()).map((f) => f.event)).toEqual([
      'step.resolved',
      'step.resolved',
      'task.completed',
    ]);
  });

  it('ends open streams when the server closes', async () => {
    const id = (
      await short.call('POST', '/v1/tasks', {
        body: { namespace: 'shop', name: parked.name, context: { n: ++made } },
      })
    ).body.task.id;
    const stream = await openStream(short.url, id, { key: short.adminKey });
    await stream.next();
    await short.app.close();
    expect(await stream.rest()).toEqual([]);
    expect(short.app.server.listening).toBe(false);
  });
});
