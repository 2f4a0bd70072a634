/**
 * One tail of the event log per API process, shared by every task event stream: a single poll
 * loop over readEvents, running only while some stream listens, fanning each event out to the
 * streams of its task. However many streams are open, the database sees one query per poll
 * interval from this process, and no connection is held between polls.
 */
import type { EventCursor } from '@switchyard/core';
import { eventLogHorizon, type Queryable, readEvents, type StoredEvent } from '@switchyard/db';
import type { Logger } from 'pino';

/** How often the tail reads the log while a stream listens (ms). */
export const DEFAULT_EVENT_POLL_MS = 200;
const PAGE = 500;

export type EventListener = (event: StoredEvent) => void;

export type EventTail = {
  /**
   * Calls `listener` with every event of `taskId` that settles from now on, in log order (and
   * possibly some from just before: a subscriber deduplicates by cursor). Returns the
   * unsubscribe function; the loop stops when the last listener leaves.
   */
  subscribe(taskId: string, listener: EventListener): () => void;
  /** Streams listening now. */
  size(): number;
  /** Whether the poll loop runs (it does while some stream listens, and winds down after). */
  polling(): boolean;
  /** Stops the loop and drops every listener (the server is closing). */
  close(): Promise<void>;
};

export function createEventTail(deps: { pool: Queryable; logger: Logger; pollMs?: number }): EventTail {
  const pollMs = deps.pollMs ?? DEFAULT_EVENT_POLL_MS;
  const listeners = new Map<string, Set<EventListener>>();
  let count = 0;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  let closed = false;

  const running = () => count > 0 && !closed;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  async function run(): Promise<void> {
    let cursor: EventCursor | null = null;
    while (running()) {
      try {
        cursor ??= await eventLogHorizon(deps.pool);
        const events = await readEvents(deps.pool, { after: cursor, limit: PAGE });
        for (const event of events) {
          cursor = event.cursor;
          const forTask = event.taskId ? listeners.get(event.taskId) : undefined;
          for (const listener of forTask ?? []) listener(event);
        }
        if (events.length === PAGE) continue;
      } catch (err) {
        deps.logger.warn({ err }, 'reading the event log failed; the event streams retry');
      }
      if (running()) await pause(pollMs);
    }
  }

  const start = () => {
    if (loop || closed) return;
    loop = run().finally(() => {
      loop = null;
      // A stream that came while the loop was winding down.
      if (running()) start();
    });
  };

  return {
    subscribe(taskId, listener) {
      const set = listeners.get(taskId) ?? new Set<EventListener>();
      listeners.set(taskId, set);
      set.add(listener);
      count += 1;
      start();
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        set.delete(listener);
        if (set.size === 0) listeners.delete(taskId);
        count -= 1;
        if (count === 0) wake?.();
      };
    },
    size: () => count,
    polling: () => loop !== null,
    async close() {
      closed = true;
      listeners.clear();
      count = 0;
      wake?.();
      await loop;
    },
  };
}
