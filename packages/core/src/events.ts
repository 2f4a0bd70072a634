/**
 * The event catalog: what Switchyard tells other services happened. Lifecycle events are
 * written by the database in the same transaction as the transition they report (triggers on
 * the audit tables, see the event_outbox migration), so an event is never lost and never
 * announced for a change that rolled back.
 */

/** Events Switchyard itself publishes, and the transition each reports. */
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
