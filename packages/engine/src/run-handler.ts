import { StepTimeoutError, toError } from '@switchyard/core';
import type { StepHandler, StepHandlerContext } from '@switchyard/handler-kit';

export type HandlerOutcome = { ok: true; results: unknown } | { ok: false; error: Error };

/** Raised into the handler's signal when the attempt lost its claim (cancelled, lease lost). */
export class ClaimLostError extends Error {
  override name = 'ClaimLostError';
}

/** Raised into the handler's signal when the worker's shutdown deadline passes. */
export class WorkerShutdownError extends Error {
  override name = 'WorkerShutdownError';
}

/**
 * Runs one attempt of a handler with its timeout. The handler's signal is aborted on timeout or
 * when `controller` is aborted from outside (claim lost); the attempt ends at that moment even
 * if the handler ignores its signal, so a hung handler cannot hold the step.
 */
export async function runHandler(
  handler: StepHandler,
  ctx: Omit<StepHandlerContext, 'signal'>,
  timeoutMs: number,
  controller: AbortController,
): Promise<HandlerOutcome> {
  const timer = setTimeout(() => controller.abort(new StepTimeoutError(timeoutMs)), timeoutMs);
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(toError(controller.signal.reason));
    if (controller.signal.aborted) onAbort();
    else controller.signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const results = await Promise.race([
      Promise.resolve().then(() => handler.run({ ...ctx, signal: controller.signal })),
      aborted,
    ]);
    return { ok: true, results: results ?? null };
  } catch (err) {
    // If the signal fired, its reason is the truth (the handler may have thrown an AbortError).
    return { ok: false, error: controller.signal.aborted ? toError(controller.signal.reason) : toError(err) };
  } finally {
    clearTimeout(timer);
    aborted.catch(() => {});
  }
}
