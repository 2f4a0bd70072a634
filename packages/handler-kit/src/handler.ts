/** The log methods a handler may use (a pino logger fits). Lines carry the step's ids. */
export type StepLogger = {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
};

/** Everything a handler receives for one attempt. */
export type StepHandlerContext<TContext = unknown> = {
  task: {
    id: string;
    namespace: string;
    name: string;
    version: string;
    /** The task context, validated against the template's JSON Schema at creation. */
    context: TContext;
    correlationId: string;
  };
  step: {
    id: string;
    name: string;
    /** 1-based; the first attempt is 1. */
    attempt: number;
    maxAttempts: number;
    dependentSystem: string;
    /** The step's `handler_config` from the template. */
    config: Record<string, unknown>;
  };
  /** Results of the step's parents, by parent step name. */
  parents: Record<string, unknown>;
  /**
   * Send this with every call to the dependent system: it is the same for every attempt of
   * this step, so the service can make a repeated call a no-op (execution is at-least-once).
   */
  idempotencyKey: string;
  /** Aborted when the step times out, its task is cancelled or the worker loses the claim. */
  signal: AbortSignal;
  log: StepLogger;
  /**
   * Sets the payload of an event the step's template declares under `publishes`. The event is
   * committed with this attempt's outcome when its condition holds (exactly once per attempt;
   * never for an attempt whose outcome is refused as stale). Without a call, the payload is the
   * step's results (success) or its error (failure). Calling it again replaces the payload.
   * @throws PermanentError (`event_not_declared`) for an event the template does not declare.
   */
  publish(name: string, payload: unknown): void;
  /**
   * Says this attempt answers without calling its dependent system (a cache hit, a case that
   * needs no call). Its outcome is then not evidence about the service's latency for an
   * adaptive limit. `defineApiStepHandler` says it for you when `call` made no request.
   */
  noServiceCall(): void;
  /** On a batch worker (a step made from a batch plan): its batch and where to resume; null on other steps. */
  batch: BatchContext | null;
  /**
   * Durably records how far this batch got: `cursor` (where to resume) and `partial` (what the
   * batch has gathered so far), any JSON. The next attempt of the batch (after a retry, a crash
   * or an expired lease) receives them as `batch.checkpoint` and resumes from there. Only the
   * current attempt may write it: once its claim is lost the promise rejects and the attempt is
   * aborted, so a stale attempt never moves the checkpoint.
   * @throws PermanentError (`not_a_batch_worker`) on a step that is not a batch worker.
   */
  checkpoint(cursor: unknown, partial?: unknown): Promise<void>;
};

/** What a batch worker's attempt works on. */
export type BatchContext = {
  /** The batch's index in its plan, from 0. */
  index: number;
  /** The batch's cursor: `{ start, end }` (items [start, end)) for a `{ total, batch_size }` plan, else the plan's element. */
  cursor: unknown;
  /** The last checkpoint an attempt of this batch recorded, or null for a fresh start. */
  checkpoint: { cursor: unknown; partial: unknown } | null;
};

/**
 * A step handler. Return the step's results (any JSON value); throw `RetryableError` for a
 * failure worth retrying, `PermanentError` for one that is not (anything else is retried).
 */
export type StepHandler<TContext = unknown, TResult = unknown> = {
  readonly name: string;
  run(ctx: StepHandlerContext<TContext>): Promise<TResult> | TResult;
  /**
   * Runs instead of `run` while the step's service breaker is open, for steps whose template
   * says `on_breaker_open: fallback` (e.g. plan defaults instead of the preferences service).
   * Its result is recorded with `fallback_used: true`.
   */
  fallback?(ctx: StepHandlerContext<TContext>): Promise<TResult> | TResult;
};

/** Declares a handler; `name` is what templates refer to in a step's `handler`. */
export function defineStepHandler<TContext = unknown, TResult = unknown>(
  name: string,
  run: (ctx: StepHandlerContext<TContext>) => Promise<TResult> | TResult,
  options: { fallback?: (ctx: StepHandlerContext<TContext>) => Promise<TResult> | TResult } = {},
): StepHandler<TContext, TResult> {
  if (!/^[a-z][a-z0-9_.-]{0,99}$/.test(name)) {
    throw new TypeError(`handler name "${name}" must match ^[a-z][a-z0-9_.-]{0,99}$`);
  }
  return options.fallback ? { name, run, fallback: options.fallback } : { name, run };
}
