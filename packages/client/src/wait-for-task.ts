/**
 * Waiting for a task to reach a status: on the task's event stream (Server-Sent Events) when the
 * statuses waited for are terminal, by polling otherwise and whenever the stream fails.
 */
import type { Task } from './contract.ts';
import { SwitchyardApiError, SwitchyardNetworkError, WaitTimeoutError } from './errors.ts';
import type { SwitchyardEvent } from './event-contract.ts';
import { isTerminalTaskEvent, type StreamTaskEventsOptions } from './event-stream.ts';
import { sleep } from './transport.ts';

/** Options of the client's waitForTask. */
export type WaitOptions = {
  /** Give up after this long (ms). Default 60 000. */
  timeoutMs?: number;
  /** Statuses to wait for. Default the terminal ones: complete, error, cancelled. */
  until?: readonly Task['status'][];
  /** First poll interval (ms), growing ×1.5 to `maxIntervalMs`. Default 100. */
  intervalMs?: number;
  /** Longest poll interval (ms). Default 2 000. */
  maxIntervalMs?: number;
  signal?: AbortSignal;
};

const TERMINAL: readonly Task['status'][] = ['complete', 'error', 'cancelled'];

type StreamOpener = (id: string, options: StreamTaskEventsOptions) => AsyncIterable<SwitchyardEvent>;

export async function waitForTask(
  get: (id: string) => Promise<Task>,
  stream: StreamOpener,
  id: string,
  wait: WaitOptions,
): Promise<Task> {
  const until = wait.until ?? TERMINAL;
  // Only terminal statuses are announced by events; any other is seen by polling.
  if (!until.every((status) => TERMINAL.includes(status))) return pollTask(get, id, wait);
  const timeoutMs = wait.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  wait.signal?.throwIfAborted();
  let task = await get(id);
  if (until.includes(task.status)) return task;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - Date.now()));
  const onAbort = () => controller.abort();
  wait.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let lastEventId: string | undefined;
    let ended = true;
    // Each round follows the stream to its end; a terminal event the caller does not wait for
    // (task.failed when waiting for complete) ends one, and the next resumes after it, in case
    // an operator retries the task. A stream that ends without one has dropped: poll.
    while (ended) {
      ended = false;
      for await (const event of stream(id, { signal: controller.signal, lastEventId })) {
        lastEventId = event.cursor;
        if (!isTerminalTaskEvent(event.type)) continue;
        task = await get(id);
        if (until.includes(task.status)) return task;
        ended = true;
      }
    }
  } catch (err) {
    if (wait.signal?.aborted) throw wait.signal.reason;
    if (
      !controller.signal.aborted &&
      !(err instanceof SwitchyardNetworkError || err instanceof SwitchyardApiError)
    )
      throw err;
  } finally {
    clearTimeout(timer);
    wait.signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
  // The stream could not be opened, dropped, or the time is up: polling takes over for what is left.
  return pollTask(get, id, wait, deadline);
}

async function pollTask(
  get: (id: string) => Promise<Task>,
  id: string,
  wait: WaitOptions,
  deadline = Date.now() + (wait.timeoutMs ?? 60_000),
): Promise<Task> {
  const until = wait.until ?? TERMINAL;
  const timeoutMs = wait.timeoutMs ?? 60_000;
  let interval = wait.intervalMs ?? 100;
  for (;;) {
    wait.signal?.throwIfAborted();
    const task = await get(id);
    if (until.includes(task.status)) return task;
    if (Date.now() >= deadline) throw new WaitTimeoutError(task, timeoutMs);
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), wait.signal);
    interval = Math.min(interval * 1.5, wait.maxIntervalMs ?? 2_000);
  }
}
