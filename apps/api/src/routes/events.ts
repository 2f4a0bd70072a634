import {
  EVENT_CURSOR_PATTERN,
  EventPageSchema,
  EventSchema,
  ListEventsQuerySchema,
  TERMINAL_TASK_EVENTS,
} from '@switchyard/client';
import {
  type EventCursor,
  type FieldIssue,
  isSubscribableEventType,
  NotFoundError,
  parseEventCursor,
  ValidationError,
} from '@switchyard/core';
import { readEvents, type StoredEvent, taskNamespace } from '@switchyard/db';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { mayTouch } from '../auth.ts';
import type { ApiDeps, EventStreamOptions } from '../deps.ts';
import { createEventTail, type EventTail } from '../event-tail.ts';
import { problems } from '../problem.ts';
import { redactSecrets } from '../redact.ts';
import { wire } from '../wire.ts';

const MAX_BIGINT = 9_223_372_036_854_775_807n;
const HISTORY_PAGE = 500;
/** A stream whose client reads slower than this much piles up is ended; the client resumes. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const TaskParams = z.strictObject({ id: z.uuid() });
const StreamHeaders = z.object({
  'last-event-id': z
    .string()
    .regex(EVENT_CURSOR_PATTERN, 'must be an event cursor')
    .optional()
    .describe('resume after this event (the id of the last event received)'),
});

const STREAM_DESCRIPTION =
  'Server-Sent Events: the events of the task already in the log, then each new one as it settles, as `id: <cursor>`, `event: <type>`, `data: <the event as JSON>`. The stream ends after the task’s terminal event (task.completed, task.cancelled or task.failed). An operator may still retry a failed task: reconnect with `Last-Event-ID` set to the task.failed cursor to follow it (a stream resumed after a task.completed or task.cancelled ends at once). A `: keep-alive` comment comes every 15 s. `Last-Event-ID` resumes after that event, without repeats.';

/**
 * The event log's read routes: pages of the log, and a task's events as Server-Sent Events.
 *
 * Visibility: a key restricted to namespaces sees only the events of tasks in them; breaker
 * events, which have no namespace (a breaker is shared by every namespace), only an
 * unrestricted key sees, as only an unrestricted webhook receives them.
 */
export function eventRoutes(deps: ApiDeps, options: EventStreamOptions = {}) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    const tail = createEventTail({ pool: deps.pool, logger: deps.logger, pollMs: options.pollMs });
    const streams = new Set<() => void>();
    // Open streams would keep the server from closing: they end first, then the tail stops.
    app.addHook('preClose', async () => {
      for (const end of [...streams]) end();
    });
    app.addHook('onClose', async () => tail.close());

    app.get(
      '/v1/events',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'listEvents',
          tags: ['events'],
          summary: 'The event log, oldest first, one page at a time',
          description:
            'Every event after `after`, in the order they committed (an event whose transaction is still running is not shown until it commits, so a reader never moves past one). The log has no end: an empty page means nothing new yet; ask again later with nextCursor. A key restricted to namespaces sees only the events of those namespaces (no breaker events).',
          querystring: ListEventsQuerySchema,
          response: { 200: EventPageSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { after, types, limit } = request.query;
        const cursor = after === undefined ? null : checkCursor(after, '/query/after');
        const typeList = types === undefined ? null : checkTypes(types);
        const events = await readEvents(deps.pool, {
          after: cursor,
          types: typeList,
          namespaces: request.principal.namespaces,
          limit,
        });
        const nextCursor = events.at(-1)?.cursor ?? cursor;
        return wire(EventPageSchema, {
          events: events.map(toWireEvent),
          nextCursor: nextCursor ? formatCursor(nextCursor) : null,
        });
      },
    );

    app.get(
      '/v1/tasks/:id/events',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'streamTaskEvents',
          tags: ['events'],
          summary: "A task's events as Server-Sent Events, past then live, until the task ends",
          description: STREAM_DESCRIPTION,
          params: TaskParams,
          headers: StreamHeaders,
          response: {
            200: {
              description: 'text/event-stream; each event’s data is an Event',
              content: { 'text/event-stream': { schema: z.string() } },
            },
            ...problems(400, 401, 403, 404, 503),
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const namespace = await taskNamespace(deps.pool, id);
        // As GET /v1/tasks/{id}: a task the key may not see is answered like an unknown one.
        if (!namespace || !mayTouch(request.principal, namespace))
          throw new NotFoundError(`task ${id} does not exist`);
        const lastEventId = request.headers['last-event-id'];
        const after = lastEventId === undefined ? null : checkCursor(lastEventId, '/headers/last-event-id');
        streamTask(
          { deps, tail, streams, heartbeatMs: options.heartbeatMs ?? 15_000 },
          request,
          reply,
          after,
        );
      },
    );
  };
}

function checkCursor(text: string, path: string): EventCursor {
  const cursor = parseEventCursor(text);
  if (!cursor || BigInt(cursor.txId) > MAX_BIGINT || BigInt(cursor.position) > MAX_BIGINT) {
    throw new ValidationError('invalid request', [
      { path, rule: 'cursor', message: 'is not an event cursor returned by this API' },
    ]);
  }
  return cursor;
}

function checkTypes(text: string): string[] {
  const types = text.split(',').map((type) => type.trim());
  const issues: FieldIssue[] = types.flatMap((type) =>
    isSubscribableEventType(type)
      ? []
      : [
          {
            path: '/query/types',
            rule: 'event_type',
            message: `"${type}" is not an event type: one of task.completed, task.failed, task.cancelled, step.failed, step.resolved, breaker.opened, breaker.closed, or a handler event name (dotted lowercase words, e.g. user.registered)`,
          },
        ],
  );
  if (issues.length > 0) throw new ValidationError('invalid query', issues);
  return [...new Set(types)];
}

const formatCursor = (cursor: EventCursor) => `${cursor.txId}.${cursor.position}`;

function compareCursors(a: EventCursor, b: EventCursor): number {
  const tx = BigInt(a.txId) - BigInt(b.txId);
  if (tx !== 0n) return tx < 0n ? -1 : 1;
  const position = BigInt(a.position) - BigInt(b.position);
  return position === 0n ? 0 : position < 0n ? -1 : 1;
}

function toWireEvent(event: StoredEvent) {
  return wire(EventSchema, {
    id: event.id,
    cursor: formatCursor(event.cursor),
    type: event.type,
    namespace: event.namespace,
    taskId: event.taskId,
    correlationId: event.correlationId,
    occurredAt: event.occurredAt,
    data: redactSecrets(event.data),
  });
}

const isTerminal = (event: StoredEvent) => (TERMINAL_TASK_EVENTS as readonly string[]).includes(event.type);

/** Every event of a task that has settled, in log order. */
async function taskHistory(deps: ApiDeps, taskId: string): Promise<StoredEvent[]> {
  const history: StoredEvent[] = [];
  for (;;) {
    const page = await readEvents(deps.pool, {
      taskId,
      after: history.at(-1)?.cursor ?? null,
      limit: HISTORY_PAGE,
    });
    history.push(...page);
    if (page.length < HISTORY_PAGE) return history;
  }
}

type StreamContext = {
  deps: ApiDeps;
  tail: EventTail;
  streams: Set<() => void>;
  heartbeatMs: number;
};

/**
 * Streams a task's events. The stream subscribes to the shared tail first and only then reads
 * the history, holding back what the tail brings meanwhile: every event the tail had already
 * passed had settled, so the history read after it holds it, and whatever the tail brings
 * later is sent unless the history already sent it (cursors only grow).
 */
function streamTask(
  { deps, tail, streams, heartbeatMs }: StreamContext,
  request: FastifyRequest,
  reply: FastifyReply,
  after: EventCursor | null,
): void {
  const taskId = (request.params as { id: string }).id;
  reply.hijack();
  const res = reply.raw;
  // The idle timeout (connectionTimeout) closes a connection quiet for that long; a stream may
  // be quiet for much longer, and its heartbeats keep proxies, not this server, from closing it.
  // (The request timeout does not apply: it bounds receiving the request, which is complete.)
  request.raw.socket.setTimeout(0);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-correlation-id': request.id,
  });
  res.flushHeaders();

  let lastSent = after;
  let held: StoredEvent[] | null = [];
  let ended = false;
  const send = (event: StoredEvent): boolean => {
    if (ended || (lastSent && compareCursors(event.cursor, lastSent) <= 0)) return false;
    res.write(
      `id: ${formatCursor(event.cursor)}\nevent: ${event.type}\ndata: ${JSON.stringify(toWireEvent(event))}\n\n`,
    );
    lastSent = event.cursor;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      request.log.info({ taskId }, 'event stream ended: the client reads too slowly (it may resume)');
      end();
    }
    return true;
  };
  const unsubscribe = tail.subscribe(taskId, (event) => {
    if (held) held.push(event);
    else if (send(event) && isTerminal(event)) end();
  });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
  function end() {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
    streams.delete(end);
    res.end();
    // The connection may carry further requests: the idle timeout applies to them again.
    if (!request.raw.socket.destroyed) request.raw.socket.setTimeout(request.server.server.timeout);
  }
  streams.add(end);
  res.on('close', end);

  taskHistory(deps, taskId).then(
    (history) => {
      if (ended) return;
      const fresh = history.filter((event) => send(event));
      const latest = history.at(-1);
      // Ended already: its terminal event is the latest, just sent, or seen by the client before
      // it resumed (a failed task stays open for a retry, which the client resumed to follow).
      if (latest && isTerminal(latest) && (fresh.length > 0 || latest.type !== 'task.failed')) return end();
      const pending = held ?? [];
      held = null;
      for (const event of pending) if (send(event) && isTerminal(event)) return end();
    },
    (err: unknown) => {
      request.log.warn(
        { err, taskId },
        'reading the task events failed; the stream ends (the client may resume)',
      );
      end();
    },
  );
}
