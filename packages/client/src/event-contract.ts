/**
 * The wire contract of the event log's read routes (`GET /v1/events`, the Server-Sent Events
 * of `GET /v1/tasks/{id}/events`), beside contract.ts and in its style: the server validates
 * and serializes with these schemas, the client's types come from them.
 */
import { z } from 'zod';
import { timestamp } from './wire-time.ts';

/** A place in the event log: `<transaction id>.<position>`, opaque to clients. */
export const EVENT_CURSOR_PATTERN = /^\d{1,19}\.\d{1,19}$/;

/** The task events that end a task's stream (a failed task may still be retried by an operator). */
export const TERMINAL_TASK_EVENTS = ['task.completed', 'task.failed', 'task.cancelled'] as const;

export const EventSchema = z
  .object({
    id: z.uuid().describe('stable: deduplicate on it (it is also the webhook-id of its deliveries)'),
    cursor: z.string().describe('where the event sits in the log: pass it as `after`, or as Last-Event-ID'),
    type: z
      .string()
      .describe(
        'task.completed, task.failed, task.cancelled, step.failed, step.resolved, breaker.opened, breaker.closed, or a name a handler published (user.registered)',
      ),
    namespace: z.string().nullable().describe("null for a breaker's events"),
    taskId: z.uuid().nullable(),
    correlationId: z.string().nullable(),
    occurredAt: timestamp,
    data: z.record(z.string(), z.unknown()).describe('what happened; secret-named values are redacted'),
  })
  .meta({ id: 'Event' });
/** An event of the log (named so as not to shadow the DOM's Event). */
export type SwitchyardEvent = z.output<typeof EventSchema>;

/** Query of `GET /v1/events`. */
export const ListEventsQuerySchema = z.strictObject({
  after: z
    .string()
    .regex(EVENT_CURSOR_PATTERN, 'must be an event cursor')
    .optional()
    .describe('nextCursor of the previous page, or the cursor of an event; default: the start of the log'),
  types: z
    .string()
    .min(1)
    .max(2000)
    .optional()
    .describe('comma-separated event types, e.g. task.completed,task.failed; default: every type'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type ListEventsQuery = z.input<typeof ListEventsQuerySchema>;

export const EventPageSchema = z
  .object({
    events: z.array(EventSchema),
    nextCursor: z
      .string()
      .nullable()
      .describe(
        'the cursor to ask after next: the last event of this page, or `after` again when the page is empty (nothing new has settled yet); null only for an empty page without `after`',
      ),
  })
  .meta({ id: 'EventPage' });
export type EventPage = z.output<typeof EventPageSchema>;
