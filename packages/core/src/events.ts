/**
 * The event catalog: what Switchyard tells other services happened. Lifecycle events are
 * written by the database in the same transaction as the transition they report (triggers on
 * the audit tables, see the event_outbox migration), so an event is never lost and never
 * announced for a change that rolled back. Handlers' domain events are committed with the
 * attempt's outcome, in the statement that records it.
 */
import { compileContextValidator } from './context.ts';
import { ValidationError } from './errors.ts';
import type { PublishCondition, PublishedEvent } from './template-schema.ts';

/**
 * Events Switchyard itself publishes, and the transition each reports. The step events are the
 * ones an operator acts on (a failure, a repair); a step skipped by a decision has none, as a
 * completed step has none: it is the ordinary course of the workflow, recorded in the audit.
 */
export const LIFECYCLE_EVENTS = {
  'task.completed': 'a task reached complete',
  'task.failed': 'a task reached error (blocked by failures; an operator may still retry it)',
  'task.cancelled': 'a task was cancelled',
  'step.failed': 'a step reached error (permanent error, attempts exhausted, or its last lease expired)',
  'step.resolved': 'an operator resolved a step by hand',
  'breaker.opened': "a dependent system's breaker opened (a trip, or a failed probe)",
  'breaker.closed':
    "a dependent system's breaker closed (probes succeeded, or an operator closed or reset it)",
} as const;
export type LifecycleEventType = keyof typeof LIFECYCLE_EVENTS;
export const LIFECYCLE_EVENT_TYPES = Object.keys(LIFECYCLE_EVENTS) as LifecycleEventType[];

/** Whether `type` is one Switchyard publishes itself (handlers may not publish these). */
export function isLifecycleEventType(type: string): type is LifecycleEventType {
  return Object.hasOwn(LIFECYCLE_EVENTS, type);
}

/**
 * A place in the event log. The log is read in (transaction id, position) order and only up to
 * the oldest transaction still running, so a transaction that commits late can never land
 * behind a reader that already moved on.
 */
export type EventCursor = { txId: string; position: string };

/** The cursor as clients see it (an SSE event id, the `after` of a page): `<txId>.<position>`. */
export function formatEventCursor(cursor: EventCursor): string {
  return `${cursor.txId}.${cursor.position}`;
}

/** Parses a cursor made by formatEventCursor, or returns null for anything else. */
export function parseEventCursor(text: string): EventCursor | null {
  const match = /^(\d{1,19})\.(\d{1,19})$/.exec(text);
  return match ? { txId: match[1]!, position: match[2]! } : null;
}

/** How an attempt ended, as the publish conditions of a step's events see it. */
export type AttemptEnd = { ok: true } | { ok: false; final: boolean };

/** Whether an event declared with `when` is published for an attempt that ended so. */
export function publishesOn(when: PublishCondition, end: AttemptEnd): boolean {
  if (when === 'always') return true;
  if (when === 'success') return end.ok;
  if (end.ok) return false;
  return when === 'failure' || end.final;
}

/** A domain event to commit with an attempt's outcome. */
export type DomainEvent = { name: string; payload: unknown };

/**
 * The events a step publishes for one attempt: each declared event whose condition holds, with
 * the payload the handler published for it (ctx.publish), or else `fallbackPayload` (the
 * results of a success, the error of a failure). A payload must satisfy the event's schema.
 * @throws ValidationError (paths under `/publishes/<name>`) for a payload that does not.
 */
export function eventsToPublish(
  declared: readonly PublishedEvent[],
  end: AttemptEnd,
  published: ReadonlyMap<string, unknown>,
  fallbackPayload: unknown,
): DomainEvent[] {
  const events = declared
    .filter((event) => publishesOn(event.when, end))
    .map((event) => ({
      event,
      payload: published.has(event.name) ? published.get(event.name) : fallbackPayload,
    }));
  const issues = events.flatMap(({ event, payload }) =>
    event.schema
      ? compileContextValidator(event.schema)(payload).map((issue) => ({
          ...issue,
          path: `/publishes/${event.name}${issue.path}`,
        }))
      : [],
  );
  if (issues.length > 0) throw new ValidationError('an event payload does not match its schema', issues);
  return events.map(({ event, payload }) => ({ name: event.name, payload }));
}
