/**
 * A task's event stream (GET /v1/tasks/{id}/events, Server-Sent Events) read with fetch:
 * EventSource cannot send the operator's key in an Authorization header.
 */
import { useEffect, useRef } from 'react';
import { storedApiKey } from './api.ts';

/** What the page needs of one stream message: the event type and its cursor. */
export type StreamedEvent = { id: string | null; type: string };

/**
 * The messages of an SSE body, in order. Enough of the format for this stream: `id` and
 * `event` lines, messages ending at a blank line, comments (heartbeats) skipped.
 */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamedEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let message: StreamedEvent = { id: null, type: '' };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    // Lines end with \r\n, \r or \n; a \r last in the buffer waits for a possible \n.
    const held = buffer.endsWith('\r') ? '\r' : '';
    buffer = buffer.slice(0, buffer.length - held.length).replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n');
    while (end !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line === '') {
        if (message.type) yield message;
        message = { id: message.id, type: '' };
      } else if (line.startsWith('id:')) message.id = line.slice(3).trim();
      else if (line.startsWith('event:')) message.type = line.slice(6).trim();
      end = buffer.indexOf('\n');
    }
    buffer += held;
  }
}

const RECONNECT_MS = 3_000;

/**
 * Calls `onEvent` for each event of the task while `enabled`: the past ones first, then live
 * ones. The stream ends after the task's terminal event; when it drops, it resumes after the
 * last event seen, and when `enabled` comes back (an operator retried a failed task) it resumes
 * from there too.
 */
export function useTaskEvents(
  taskId: string,
  enabled: boolean,
  onEvent: (event: StreamedEvent) => void,
): void {
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;
  const lastId = useRef<string | null>(null);
  useEffect(() => {
    lastId.current = null;
  }, [taskId]);

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const follow = async () => {
      while (!controller.signal.aborted) {
        let ended = false;
        try {
          const key = storedApiKey();
          const response = await fetch(`/v1/tasks/${encodeURIComponent(taskId)}/events`, {
            headers: {
              accept: 'text/event-stream',
              ...(key ? { authorization: `Bearer ${key}` } : {}),
              ...(lastId.current ? { 'last-event-id': lastId.current } : {}),
            },
            signal: controller.signal,
          });
          // Refused (no key, no such task): the page's own reads show why; polling carries on.
          if (!response.ok || !response.body) return;
          for await (const event of readEventStream(response.body)) {
            lastId.current = event.id ?? lastId.current;
            onEventRef.current(event);
            if (['task.completed', 'task.cancelled', 'task.failed'].includes(event.type)) ended = true;
          }
        } catch {
          // Dropped: try again shortly.
        }
        if (ended) return;
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    };
    void follow();
    return () => controller.abort();
  }, [taskId, enabled]);
}
