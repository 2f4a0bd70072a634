/**
 * The error vocabulary of Switchyard. Each class says what the caller should do with it, so that
 * the API maps codes to responses in one table and workers decide retries in one function
 * (the shape follows temporalio/sdk-typescript `packages/common/src/failure.ts`).
 */

/** One failing field: `path` is a JSON pointer into the input (`''` for the root), `rule` what it broke. */
export type FieldIssue = { path: string; rule: string; message: string };

/** Base of the infrastructure-facing errors; `code` is stable and safe to branch on. */
export class SwitchyardError extends Error {
  override name = 'SwitchyardError';
  readonly code: string;

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Bad input (HTTP 400). Never retry: the same input fails the same way. */
export class ValidationError extends SwitchyardError {
  override name = 'ValidationError';
  readonly issues: readonly FieldIssue[];

  /** The message becomes `${message}: ${each issue as "path: message (rule)"}`. */
  constructor(message: string, issues: readonly FieldIssue[], options?: ErrorOptions) {
    super(issues.length > 0 ? `${message}: ${formatIssues(issues)}` : message, 'validation_failed', options);
    this.issues = issues;
  }
}

/** The addressed thing does not exist (HTTP 404). */
export class NotFoundError extends SwitchyardError {
  override name = 'NotFoundError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'not_found', options);
  }
}

/** The request clashes with current state, e.g. a stale attempt (HTTP 409). Drop it quietly. */
export class ConflictError extends SwitchyardError {
  override name = 'ConflictError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'conflict', options);
  }
}

/** The process is misconfigured. Exit at start rather than run half-working. */
export class ConfigError extends SwitchyardError {
  override name = 'ConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'config_invalid', options);
  }
}

/** Postgres or Redis hiccuped (pool timeout, deadlock, connection reset). Retry the operation. */
export class TransientInfrastructureError extends SwitchyardError {
  override name = 'TransientInfrastructureError';
  /** `options.code` narrows the default code `transient_infrastructure` (for a subclass). */
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(message, options?.code ?? 'transient_infrastructure', options);
  }
}

/**
 * A task create failed because the database was unavailable. `taskMayExist` says whether its
 * insert had reached Postgres (then whether it committed is unknown: code `outcome_unknown`) or
 * not (nothing was written: `database_unavailable`). Either way the create is safe to retry with
 * the same idempotency key, which returns the task if the first attempt made it.
 */
export class TaskCreateUnavailableError extends TransientInfrastructureError {
  override name = 'TaskCreateUnavailableError';
  readonly taskMayExist: boolean;

  constructor(taskMayExist: boolean, options?: ErrorOptions) {
    const message = taskMayExist
      ? 'the database failed after the task was sent to it: the task may exist'
      : 'the database is unavailable; the task was not created';
    super(message, { ...options, code: taskMayExist ? 'outcome_unknown' : 'database_unavailable' });
    this.taskMayExist = taskMayExist;
  }
}

/** Renders issues as `path: message (rule)` joined by `; `; the root path shows as `(root)`. */
export function formatIssues(issues: readonly FieldIssue[]): string {
  return issues.map((issue) => `${issue.path || '(root)'}: ${issue.message} (${issue.rule})`).join('; ');
}

/** Options of {@link RetryableError}. */
export type RetryableErrorOptions = {
  /** Seconds to wait (as in an HTTP `Retry-After: 120`), or the absolute time to retry at. */
  retryAfter?: number | Date;
  httpStatus?: number;
  errorCode?: string;
  cause?: unknown;
};

/** Thrown by a step handler when trying again later may succeed (timeouts, 5xx, 429). */
export class RetryableError extends Error {
  override name = 'RetryableError';
  readonly retryAfter: number | Date | null;
  readonly httpStatus: number | null;
  readonly errorCode: string | null;

  constructor(message: string, options: RetryableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfter = options.retryAfter ?? null;
    this.httpStatus = options.httpStatus ?? null;
    this.errorCode = options.errorCode ?? null;
  }
}

/** Options of {@link PermanentError}; `errorCode` is required so operators can group failures. */
export type PermanentErrorOptions = { errorCode: string; httpStatus?: number; cause?: unknown };

/** Thrown by a step handler when retrying cannot help (400, 422, business rule). Never retried. */
export class PermanentError extends Error {
  override name = 'PermanentError';
  readonly errorCode: string;
  readonly httpStatus: number | null;

  constructor(message: string, options: PermanentErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.errorCode = options.errorCode;
    this.httpStatus = options.httpStatus ?? null;
  }
}

/** Raised (as an abort reason) when a handler outlives its step's `timeout_ms`. Retried like a retryable error. */
export class StepTimeoutError extends Error {
  override name = 'StepTimeoutError';
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(`step exceeded its timeout of ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Coerces anything thrown into an `Error`: Errors are returned as is; a string becomes the message;
 * anything else is described (its `message` if it has one, else JSON). The original is the `cause`.
 */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value, { cause: value });
  return new Error(`non-error thrown: ${describe(value)}`, { cause: value });
}

/** Longest description of a thrown non-error we keep; a whole response body helps nobody in a log line. */
const MAX_DESCRIPTION = 500;

function describe(value: unknown): string {
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string'
  ) {
    return (value as { message: string }).message;
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Circular structures and BigInts cannot be JSON-encoded; String() always works.
  }
  return (text ?? String(value)).slice(0, MAX_DESCRIPTION);
}

/** How a failed step attempt is recorded and what the retry decision starts from. */
export type ClassifiedStepError = {
  outcome: 'retryable_error' | 'permanent_error' | 'timeout';
  /** `PermanentError`, `StepTimeoutError`, `TypeError`...: the thrown error's name or class. */
  errorClass: string;
  errorCode: string | null;
  /** At most {@link MAX_STEP_ERROR_MESSAGE} characters. */
  message: string;
  httpStatus: number | null;
  retryAfterMs: number | null;
};

/** Messages are stored per attempt; 2000 characters keep a stack-less reason without storing a page of HTML. */
export const MAX_STEP_ERROR_MESSAGE = 2000;

/**
 * Classifies what a step handler threw. A `PermanentError` is never retried; a `StepTimeoutError`
 * is a timeout; everything else, unknown errors included, is retryable (a bug that throws a
 * TypeError should exhaust its attempts and surface, not be silently dropped).
 * @param now the clock to turn an absolute `retryAfter` date into a delay; default `new Date()`.
 */
export function classifyStepError(err: unknown, now: Date = new Date()): ClassifiedStepError {
  const error = toError(err);
  const base = { errorClass: errorClassOf(error), message: capMessage(error.message || errorClassOf(error)) };
  if (isNamed<PermanentError>(error, PermanentError)) {
    return {
      ...base,
      outcome: 'permanent_error',
      errorCode: error.errorCode ?? null,
      httpStatus: error.httpStatus ?? null,
      retryAfterMs: null,
    };
  }
  if (isNamed<RetryableError>(error, RetryableError)) {
    const retryAfterMs = retryAfterToMs(error.retryAfter, now);
    return {
      ...base,
      outcome: 'retryable_error',
      errorCode: error.errorCode ?? null,
      httpStatus: error.httpStatus ?? null,
      retryAfterMs,
    };
  }
  const outcome = error.name === 'StepTimeoutError' ? 'timeout' : 'retryable_error';
  return { ...base, outcome, errorCode: null, httpStatus: null, retryAfterMs: null };
}

/**
 * `instanceof`, or the same name: a handler bundle may carry its own copy of this package
 * (the dual-package hazard), and its errors must still classify the same way.
 */
function isNamed<T extends Error>(error: Error, type: abstract new (...args: never[]) => T): error is T {
  return error instanceof type || error.name === type.name;
}

function errorClassOf(error: Error): string {
  if (error.name && error.name !== 'Error') return error.name;
  return error.constructor?.name || 'Error';
}

function capMessage(message: string): string {
  return message.length <= MAX_STEP_ERROR_MESSAGE
    ? message
    : `${message.slice(0, MAX_STEP_ERROR_MESSAGE - 1)}…`;
}

function retryAfterToMs(retryAfter: number | Date | null | undefined, now: Date): number | null {
  if (retryAfter instanceof Date) {
    const ms = retryAfter.getTime() - now.getTime();
    return Number.isNaN(ms) ? null : Math.max(0, ms);
  }
  if (typeof retryAfter !== 'number' || !Number.isFinite(retryAfter)) return null;
  return Math.max(0, Math.round(retryAfter * 1000));
}
