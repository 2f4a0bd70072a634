import { SwitchyardApiError, SwitchyardNetworkError, WaitTimeoutError } from '@switchyard/client';
import { ConflictError, NotFoundError, SwitchyardError, ValidationError } from '@switchyard/core';

/** What the CLI's exit status means; scripts may branch on it. */
export const ExitCode = {
  OK: 0,
  /** Unexpected failure. */
  FAILURE: 1,
  /** Bad arguments or input (usage, validation, HTTP 400). */
  USAGE: 2,
  /** The task, step, template or key does not exist (404). */
  NOT_FOUND: 3,
  /** The operation is not allowed in the current state (409). */
  CONFLICT: 4,
  /** Missing, wrong or insufficient API key (401, 403). */
  AUTH: 5,
  /** The API, Postgres or Redis could not be reached (network errors, 5xx, timeouts). */
  UNAVAILABLE: 6,
  /** `tasks watch`: the task ended in error or was cancelled. */
  TASK_FAILED: 10,
} as const;

const BY_STATUS: Record<number, number> = { 400: 2, 401: 5, 403: 5, 404: 3, 409: 4, 413: 2, 415: 2 };

/** The exit status for an error a command threw. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof SwitchyardApiError) return BY_STATUS[err.status] ?? (err.status >= 500 ? 6 : 1);
  if (err instanceof SwitchyardNetworkError || err instanceof WaitTimeoutError) return ExitCode.UNAVAILABLE;
  if (err instanceof ValidationError) return ExitCode.USAGE;
  if (err instanceof NotFoundError) return ExitCode.NOT_FOUND;
  if (err instanceof ConflictError) return ExitCode.CONFLICT;
  if (err instanceof SwitchyardError && err.code === 'transient_infrastructure') return ExitCode.UNAVAILABLE;
  if ((err as { name?: string })?.name === 'ConfigError') return ExitCode.USAGE;
  return ExitCode.FAILURE;
}
