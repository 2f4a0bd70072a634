/**
 * Server-Sent Events over axios (Node: `responseType: 'stream'`), for a task's event stream:
 * EventSource cannot send an Authorization header, so the client reads the stream itself.
 */
import { randomUUID } from 'node:crypto';
import type { AxiosInstance, AxiosResponse } from 'axios';
import { ProblemSchema } from './contract.ts';
import { SwitchyardApiError, SwitchyardNetworkError } from './errors.ts';
import { EventSchema, type SwitchyardEvent, TERMINAL_TASK_EVENTS } from './event-contract.ts';

/** One message of an event stream (comments, such as heartbeats, are not messages). */
export type SseMessage = { id: string | null; event: string; data: string };

/**
 * Parses a `text/event-stream` body, chunk by chunk, as the HTML standard says: fields up to a
 * blank line make a message; `data` lines join with newlines; lines starting with `:` are
 * comments; `\r\n`, `\r` and `\n` all end a line. A message without data is dropped.
 */
export async function* parseSse(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let message = { id: null as string | null, event: '', data: [] as string[] };
  function* lines(final: boolean): Generator<SseMessage> {
    for (;;) {
      const end = /\r\n|\r|\n/.exec(buffer);
      // A lone \r at the end of the buffer may be the first half of a \r\n, unless input ended.
      if (!end || (!final && end[0] === '\r' && end.index === buffer.length - 1)) return;
      const line = buffer.slice(0, end.index);
      buffer = buffer.slice(end.index + end[0].length);
      if (line === '') {
        if (message.data.length > 0) {
          yield { id: message.id, event: message.event || 'message', data: message.data.join('\n') };
        }
        message = { id: message.id, event: '', data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') message.data.push(value);
      else if (field === 'event') message.event = value;
      else if (field === 'id' && !value.includes('\0')) message.id = value;
    }
  }
  for await (const chunk of chunks) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    yield* lines(false);
  }
  buffer += decoder.decode();
  yield* lines(true);
}

/** Options of {@link SwitchyardClient.streamTaskEvents}. */
export type StreamTaskEventsOptions = {
  /** Ends the stream (the iteration then throws the signal's reason). */
  signal?: AbortSignal;
  /** Resume after this event: the `cursor` of the last event received. */
  lastEventId?: string;
  /**
   * The stream is taken for dropped when nothing, not even a heartbeat (every 15 s), arrives
   * for this long (ms). Default 45 000.
   */
  idleMs?: number;
};

export const isTerminalTaskEvent = (type: string) =>
  (TERMINAL_TASK_EVENTS as readonly string[]).includes(type);

/**
 * A task's events, past then live, until the server ends the stream after the task's terminal
 * event. Throws SwitchyardApiError when the API refuses (404 for an unknown task), and
 * SwitchyardNetworkError when it cannot be reached or the stream drops.
 */
export async function* streamTaskEvents(
  http: AxiosInstance,
  correlationId: string | undefined,
  taskId: string,
  options: StreamTaskEventsOptions = {},
): AsyncGenerator<SwitchyardEvent> {
  const path = `/v1/tasks/${encodeURIComponent(taskId)}/events`;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.throwIfAborted();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const idleMs = options.idleMs ?? 45_000;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => controller.abort(new SwitchyardNetworkError(`GET ${path}: silent for ${idleMs} ms`)),
      idleMs,
    );
  };
  try {
    watch();
    let response: AxiosResponse;
    try {
      response = await http.request({
        method: 'GET',
        url: path,
        responseType: 'stream',
        // The stream lasts as long as the task; silence is watched above instead.
        timeout: 0,
        signal: controller.signal,
        headers: {
          accept: 'text/event-stream',
          'x-correlation-id': correlationId ?? randomUUID(),
          ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}),
        },
      });
    } catch (err) {
      throw failure(controller, options.signal, path, err);
    }
    const body = response.data as AsyncIterable<Uint8Array>;
    if (response.status >= 400) throw await refusal(response.status, body);
    const chunks = (async function* () {
      try {
        for await (const chunk of body) {
          watch();
          yield chunk;
        }
      } catch (err) {
        throw failure(controller, options.signal, path, err);
      }
    })();
    for await (const message of parseSse(chunks)) {
      const parsed = EventSchema.safeParse(JSON.parse(message.data));
      if (parsed.success) yield parsed.data;
    }
    // A connection cut mid-stream is an error above. The server also ends a stream before the
    // terminal event when it shuts down or the reader lags far behind: resume with lastEventId.
  } finally {
    clearTimeout(idle);
    options.signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

/** What a failed stream throws: the caller's abort reason, or a network error. */
function failure(controller: AbortController, signal: AbortSignal | undefined, path: string, err: unknown) {
  if (signal?.aborted) return signal.reason;
  if (controller.signal.reason instanceof SwitchyardNetworkError) return controller.signal.reason;
  const message = err instanceof Error ? err.message : String(err);
  return new SwitchyardNetworkError(`GET ${path} failed: ${message}`, { cause: err });
}

async function refusal(status: number, body: AsyncIterable<Uint8Array>): Promise<SwitchyardApiError> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {}
  const parsed = ProblemSchema.safeParse(data);
  return new SwitchyardApiError(
    parsed.success
      ? parsed.data
      : {
          type: 'about:blank',
          title: 'HTTP error',
          status,
          detail: text.slice(0, 500) || `HTTP ${status}`,
          code: 'http_error',
        },
  );
}
