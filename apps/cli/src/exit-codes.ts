/**
 * The one place that decides what an error means to the CLI's caller: its exit status, a stable
 * code for scripts, and a message that says what failed and what to do about it.
 */

import { SwitchyardApiError, SwitchyardNetworkError, WaitTimeoutError } from '@switchyard/client';
import { EnvConfigError } from '@switchyard/config';
import { ConflictError, NotFoundError, SwitchyardError, toError, ValidationError } from '@switchyard/core';
import { isDatabaseUnavailable } from '@switchyard/db';
import { LocalInfraError } from '@switchyard/local-infra';
import { CommanderError } from 'commander';
import { UsageError } from './context.ts';

/** What the CLI's exit status means; scripts may branch on it. */
export const ExitCode = {
  OK: 0,
  /** Unexpected failure. */
  FAILURE: 1,
  /** Bad arguments or input (usage, validation, HTTP 400, bad configuration). */
  USAGE: 2,
  /** The task, step, template or key does not exist (404). */
  NOT_FOUND: 3,
  /** The operation is not allowed in the current state (409). */
  CONFLICT: 4,
  /** Missing, wrong or insufficient API key (401, 403). */
  AUTH: 5,
  /** The API or Postgres could not be reached (network errors, 5xx), or a wait timed out. */
  UNAVAILABLE: 6,
  /** `tasks watch` and `tasks create --wait`: the task ended in error or was cancelled. */
  TASK_FAILED: 10,
} as const;

/** An error as the CLI reports it; with `--json` it is printed as `{"error": ErrorReport}`. */
export type ErrorReport = {
  /** Stable, for scripts: the API's problem code, or one of the CLI's own (`usage`, `database_unavailable`, …). */
  code: string;
  /** One line saying what failed and what to do (for API errors, `details` adds the fields). */
  message: string;
  exitCode: number;
  /** The HTTP status, for errors the API answered. */
  status?: number;
  /** One entry per bad field or variable. */
  details?: { path: string; message: string; rule?: string }[];
};

/** What the classifier knows about where the command was connecting, to name it in messages. */
export type ErrorScene = {
  /** SWITCHYARD_API_URL as parsed. */
  apiUrl?: string;
  /** DATABASE_URL as parsed (its default when not set). */
  databaseUrl?: string;
  /** Whether DATABASE_URL was set, or its default was used. */
  databaseUrlSet?: boolean;
};

const BY_STATUS: Record<number, number> = { 400: 2, 401: 5, 403: 5, 404: 3, 409: 4, 413: 2, 415: 2 };

/** Node's codes for a host that cannot be resolved or routed to (node-postgres passes them on). */
const UNREACHABLE_HOST_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Node's codes for a local file a command was told to read. */
const FILE_CODES = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR']);

/** The exit status for an error a command threw. */
export function exitCodeFor(err: unknown): number {
  return classifyError(err).exitCode;
}

/** Classifies anything a command threw; see ErrorReport. */
export function classifyError(err: unknown, scene: ErrorScene = {}): ErrorReport {
  if (err instanceof CommanderError) return usageReport(err);
  if (err instanceof LocalInfraError)
    return report('local_infra_unavailable', ExitCode.UNAVAILABLE, err.message);
  if (err instanceof SwitchyardApiError) return apiReport(err);
  if (err instanceof SwitchyardNetworkError)
    return report(
      'api_unavailable',
      ExitCode.UNAVAILABLE,
      `the API${scene.apiUrl ? ` at ${scene.apiUrl}` : ''} (SWITCHYARD_API_URL) is unavailable: ${err.message}; start it or point SWITCHYARD_API_URL at it`,
    );
  if (err instanceof WaitTimeoutError) return report('wait_timeout', ExitCode.UNAVAILABLE, err.message);
  if (err instanceof EnvConfigError) {
    const details = err.problems.map((p) => ({ path: p.variable, message: p.rule }));
    const message = `invalid configuration: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`;
    return { ...report('config_invalid', ExitCode.USAGE, message), details };
  }
  if (err instanceof UsageError) return report('usage', ExitCode.USAGE, err.message);
  return databaseReport(err, scene) ?? localReport(toError(err));
}

function report(code: string, exitCode: number, message: string): ErrorReport {
  return { code, message, exitCode };
}

function usageReport(err: CommanderError): ErrorReport {
  // Help and version exit 0; every other commander error is a usage error.
  if (err.exitCode === 0) return report('ok', ExitCode.OK, '');
  const message =
    err.code === 'commander.help'
      ? 'a command is required; --help lists them'
      : err.message.replace(/^error: /, '');
  return report('usage', ExitCode.USAGE, message);
}

function apiReport(err: SwitchyardApiError): ErrorReport {
  const exitCode = BY_STATUS[err.status] ?? (err.status >= 500 ? ExitCode.UNAVAILABLE : ExitCode.FAILURE);
  const details = (err.problem.errors ?? []).map((e) => ({ path: e.path, message: e.message, rule: e.rule }));
  return {
    ...report(err.code, exitCode, err.problem.detail),
    status: err.status,
    ...(details.length ? { details } : {}),
  };
}

/** Errors from Postgres, or from trying to reach it, named with the server they concern. */
function databaseReport(err: unknown, scene: ErrorScene): ErrorReport | undefined {
  const code = (err as { code?: unknown })?.code;
  const cause = rootMessage(err);
  const where = databaseName(scene);
  if (isDatabaseUnavailable(err) || UNREACHABLE_HOST_CODES.has(code as string))
    return report(
      'database_unavailable',
      ExitCode.UNAVAILABLE,
      `cannot reach ${where}: ${cause}; start Postgres or point DATABASE_URL at it`,
    );
  if (code === '3D000')
    return report(
      'database_missing',
      ExitCode.UNAVAILABLE,
      `${where}: ${cause}; \`switchyard migrate\` creates it`,
    );
  if (code === '42P01')
    return report(
      'database_not_migrated',
      ExitCode.UNAVAILABLE,
      `${where} is not migrated (${cause}); run \`switchyard migrate\``,
    );
  if (code === '28P01' || code === '28000')
    return report(
      'database_login_failed',
      ExitCode.USAGE,
      `${where} refused the login: ${cause}; fix DATABASE_URL`,
    );
  return undefined;
}

/** `Postgres at host:port/name (DATABASE_URL)`, without the credentials the URL may hold. */
export function databaseName(scene: ErrorScene): string {
  if (!scene.databaseUrl) return 'Postgres (DATABASE_URL)';
  const url = new URL(scene.databaseUrl);
  const target = `${url.hostname}:${url.port || 5432}${url.pathname}`;
  const source = scene.databaseUrlSet === false ? 'the default, as DATABASE_URL is not set' : 'DATABASE_URL';
  return `Postgres at ${target} (${source})`;
}

function localReport(err: Error): ErrorReport {
  if (err instanceof ValidationError) {
    const details = err.issues.map((i) => ({ path: i.path, message: i.message, rule: i.rule }));
    return { ...report(err.code, ExitCode.USAGE, err.message), ...(details.length ? { details } : {}) };
  }
  if (err instanceof NotFoundError) return report(err.code, ExitCode.NOT_FOUND, err.message);
  if (err instanceof ConflictError) return report(err.code, ExitCode.CONFLICT, err.message);
  if (err instanceof SwitchyardError && err.code === 'transient_infrastructure')
    return report(err.code, ExitCode.UNAVAILABLE, err.message);
  if (err.name === 'ConfigError') return report('config_invalid', ExitCode.USAGE, err.message);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && FILE_CODES.has(code))
    return report('input_unreadable', ExitCode.USAGE, err.message);
  return report('unexpected', ExitCode.FAILURE, err.message);
}

/** The innermost cause's message: "database unavailable" says less than "connect ECONNREFUSED …". */
function rootMessage(err: unknown): string {
  let error = toError(err);
  while (error.cause instanceof Error) error = error.cause;
  return error.message;
}
