/**
 * Step handlers that call an HTTP service. All mapping from HTTP (statuses, `Retry-After`,
 * transport failures) to step outcomes lives in this module: {@link classifyHttpResponse} and
 * {@link classifyTransportError} decide, {@link toStepError} turns the decision into the error a
 * worker understands. Handlers never look at a status code to decide whether to retry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { ConfigError, PermanentError, RetryableError, toError } from '@switchyard/core';
import axios, { type AxiosInstance } from 'axios';
import { defineStepHandler, type StepHandler, type StepHandlerContext } from './handler.ts';

/** Response headers as node presents them: lower-case names, repeated headers as arrays. */
export type HttpHeaders = Record<string, string | string[] | undefined>;

/** What one HTTP exchange means for the step. */
export type HttpOutcome =
  | { kind: 'success' }
  | { kind: 'conflict' }
  | { kind: 'permanent'; errorCode: string }
  | { kind: 'retryable'; errorCode: string; retryAfterMs: number | null };

/** The outcomes that end a request with an error. */
export type FailureOutcome = Exclude<HttpOutcome, { kind: 'success' }>;

/** The 4xx statuses that say "later" rather than "never": request timeout and rate limiting. */
const RETRYABLE_4XX = new Set([408, 429]);

/**
 * THE mapping from an HTTP response to a step outcome: 2xx success; 409 conflict (the caller may
 * treat it as idempotent success); 408, 429 and 5xx retryable, with `Retry-After` in ms (null when
 * absent or invalid); every other status permanent with `errorCode` `http_<status>` (400, 401,
 * 402, 403, 404, 422..., and 1xx/3xx, since redirects are not followed: the URL is misconfigured).
 * @param now the clock an HTTP-date `Retry-After` is measured against; default `new Date()`.
 */
export function classifyHttpResponse(
  status: number,
  headers: HttpHeaders,
  now: Date = new Date(),
): HttpOutcome {
  if (status >= 200 && status < 300) return { kind: 'success' };
  if (status === 409) return { kind: 'conflict' };
  const errorCode = `http_${status}`;
  if (RETRYABLE_4XX.has(status) || (status >= 500 && status < 600)) {
    return {
      kind: 'retryable',
      errorCode,
      retryAfterMs: parseRetryAfter(headerValue(headers, 'retry-after'), now),
    };
  }
  return { kind: 'permanent', errorCode };
}

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delta-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`). Returns milliseconds to wait, never negative (a date in the
 * past is 0), or null when the value is absent or unparseable. Of repeated headers the first wins.
 */
export function parseRetryAfter(
  value: string | string[] | null | undefined,
  now: Date = new Date(),
): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse reads bare numbers such as "-5" or "1.5" as years; an HTTP-date always names its
  // weekday and month, so a value without letters is garbage, not a date.
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

/** Step error codes of transport failures (no HTTP response), by node / axios error code. */
const TRANSPORT_ERROR_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  ECONNABORTED: 'timeout',
  ETIMEDOUT: 'timeout',
  ERR_CANCELED: 'aborted',
  ENOTFOUND: 'dns_lookup_failed',
  EAI_AGAIN: 'dns_lookup_failed',
  EHOSTUNREACH: 'host_unreachable',
  ENETUNREACH: 'host_unreachable',
};

/** Request-building failures: the same request fails the same way, so retrying cannot help. */
const PERMANENT_TRANSPORT_CODES = new Set(['ERR_INVALID_URL', 'ERR_BAD_OPTION', 'ERR_BAD_OPTION_VALUE']);

/**
 * Classifies a request that produced no HTTP response, from its error `code`: a malformed request
 * is permanent (`invalid_request`); everything else (refused, reset, timeout, aborted, DNS, and
 * unknown network failures as `network_error`) is retryable, since the service may be back soon.
 */
export function classifyTransportError(code: string | undefined): FailureOutcome {
  if (code && PERMANENT_TRANSPORT_CODES.has(code)) return { kind: 'permanent', errorCode: 'invalid_request' };
  const errorCode = (code && TRANSPORT_ERROR_CODES[code]) || 'network_error';
  return { kind: 'retryable', errorCode, retryAfterMs: null };
}

/** One request a handler makes; `url` is relative to the step's base URL. */
export type ApiRequest = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  data?: unknown;
  /** Query parameters, encoded for you. */
  params?: Record<string, string | number | boolean>;
};

/** A 2xx response (or, given to `onConflict`, the 409). */
export type ApiResponse<T = unknown> = { status: number; data: T; headers: HttpHeaders };

/** The client a handler's `call` receives. */
export type ApiClient = {
  /**
   * Sends one request carrying the step's correlation id, idempotency key, `traceparent`, abort
   * signal and timeout. Resolves with 2xx responses; otherwise throws `PermanentError`,
   * `RetryableError` or, for 409, {@link HttpConflictError} (which `onConflict` handles).
   */
  request<T = unknown>(request: ApiRequest): Promise<ApiResponse<T>>;
};

/**
 * A 409 from the service. It is a `PermanentError` (`http_409`), so when the handler has no
 * `onConflict` hook it fails the step for good; with a hook, the hook decides the result.
 */
export class HttpConflictError extends PermanentError {
  override name = 'HttpConflictError';
  readonly response: ApiResponse;

  constructor(message: string, response: ApiResponse) {
    super(message, { errorCode: 'http_409', httpStatus: 409 });
    this.response = response;
  }
}

/**
 * Turns a non-success outcome into the error to throw. `where` names the request
 * (`POST http://host/users`) and is the start of every message.
 */
export function toStepError(
  outcome: FailureOutcome,
  where: string,
  failure: { response?: ApiResponse; cause?: unknown },
): Error {
  const { response, cause } = failure;
  const detail = response
    ? ` with HTTP ${response.status}${bodyMessage(response.data)}`
    : describeCause(cause);
  const message = `${where} failed${detail}`;
  const httpStatus = response?.status;
  if (outcome.kind === 'conflict') return new HttpConflictError(message, response ?? emptyResponse(409));
  if (outcome.kind === 'permanent') {
    return new PermanentError(message, { errorCode: outcome.errorCode, httpStatus, cause });
  }
  const retryAfter = outcome.retryAfterMs === null ? undefined : outcome.retryAfterMs / 1000;
  return new RetryableError(message, { retryAfter, httpStatus, errorCode: outcome.errorCode, cause });
}

/** Options of {@link defineApiStepHandler}. */
export type ApiStepHandlerOptions<TContext = unknown, TResult = unknown> = {
  /** The handler name templates refer to. */
  name: string;
  /** The service this handler calls (for log lines); default none. */
  dependentSystem?: string;
  /**
   * An environment variable (e.g. `USER_SERVICE_URL`) that, when set, overrides the step's
   * `handler_config.base_url`. Read once, when the handler is defined, from `env`.
   */
  baseUrlEnv?: string;
  /** Where `baseUrlEnv` is read; default `process.env`. Tests and mains pass their own. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Per-request timeout in ms; default 10 000. The step's own timeout aborts sooner if shorter. */
  timeoutMs?: number;
  /** Performs the step's requests; its return value is the step's result. */
  call(ctx: StepHandlerContext<TContext>, http: ApiClient): Promise<TResult>;
  /**
   * Called when a request answers 409: the record exists already (an earlier attempt created it,
   * or another caller did). Fetch it and return it as the result to make the step idempotent.
   */
  onConflict?(ctx: StepHandlerContext<TContext>, http: ApiClient, response: ApiResponse): Promise<TResult>;
  /** Runs instead of `call`, without calling the service, while its breaker is open (see StepHandler.fallback). */
  fallback?(ctx: StepHandlerContext<TContext>): Promise<TResult> | TResult;
};

/** A handler built by {@link defineApiStepHandler}. */
export type ApiStepHandler<TContext = unknown, TResult = unknown> = StepHandler<TContext, TResult> & {
  readonly dependentSystem: string | null;
};

type CompiledApiOptions = { dependentSystem: string | null; envBaseUrl: string | null; timeoutMs: number };

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Declares a handler that calls one HTTP service through axios. The base URL is the step's
 * `handler_config.base_url` unless `env[baseUrlEnv]` is set; one axios instance is kept per base
 * URL. Every status is classified by {@link classifyHttpResponse}, never by axios.
 * @throws ConfigError when `env[baseUrlEnv]` is not a URL; TypeError for a bad name or timeout.
 */
export function defineApiStepHandler<TContext = unknown, TResult = unknown>(
  options: ApiStepHandlerOptions<TContext, TResult>,
): ApiStepHandler<TContext, TResult> {
  const compiled = compileApiOptions(options);
  const instances = new Map<string, AxiosInstance>();
  const handler = defineStepHandler<TContext, TResult>(
    options.name,
    async (ctx) => {
      const baseUrl = compiled.envBaseUrl ?? baseUrlFromConfig(ctx.step.config);
      let requests = 0;
      const client = createApiClient(instanceFor(instances, baseUrl, compiled.timeoutMs), ctx, compiled);
      const http: ApiClient = {
        request: (request) => {
          requests += 1;
          return client.request(request);
        },
      };
      try {
        const result = await options.call(ctx, http);
        if (requests === 0) ctx.noServiceCall();
        return result;
      } catch (err) {
        if (!(err instanceof HttpConflictError) || !options.onConflict) throw err;
        ctx.log.info(
          { dependent_system: compiled.dependentSystem },
          'conflict: resolving to the existing record',
        );
        return options.onConflict(ctx, http, err.response);
      }
    },
    options.fallback ? { fallback: options.fallback } : {},
  );
  return { ...handler, dependentSystem: compiled.dependentSystem };
}

function compileApiOptions(options: ApiStepHandlerOptions<never, unknown>): CompiledApiOptions {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`handler "${options.name}": timeoutMs must be a positive integer, got ${timeoutMs}`);
  }
  const env = options.env ?? process.env;
  const raw = options.baseUrlEnv ? env[options.baseUrlEnv]?.trim() : undefined;
  if (raw && !URL.canParse(raw)) {
    throw new ConfigError(`${options.baseUrlEnv}="${raw}" is not a URL (handler "${options.name}")`);
  }
  return { dependentSystem: options.dependentSystem ?? null, envBaseUrl: raw || null, timeoutMs };
}

function baseUrlFromConfig(config: Record<string, unknown>): string {
  const value = config.base_url;
  if (typeof value === 'string' && URL.canParse(value)) return value;
  // A template without a usable base_url fails every attempt the same way: do not retry it.
  throw new PermanentError(`handler_config.base_url must be a URL, got ${JSON.stringify(value)}`, {
    errorCode: 'invalid_handler_config',
  });
}

/** Response bodies above this are refused: results land in a JSONB column, and no service here sends more. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

function instanceFor(instances: Map<string, AxiosInstance>, baseURL: string, timeout: number): AxiosInstance {
  let instance = instances.get(baseURL);
  if (!instance) {
    instance = axios.create({
      baseURL,
      timeout,
      // Our classifier decides every status, and redirects are not followed (a POST that
      // redirects is a misconfigured URL, and following it could repeat a side effect).
      validateStatus: () => true,
      maxRedirects: 0,
      maxContentLength: MAX_BODY_BYTES,
      maxBodyLength: MAX_BODY_BYTES,
      headers: { Accept: 'application/json' },
    });
    instances.set(baseURL, instance);
  }
  return instance;
}

function createApiClient(
  instance: AxiosInstance,
  ctx: StepHandlerContext<unknown>,
  compiled: CompiledApiOptions,
): ApiClient {
  return {
    async request<T>(request: ApiRequest): Promise<ApiResponse<T>> {
      const where = `${request.method} ${instance.getUri({ url: request.url, params: request.params })}`;
      const response = await send(instance, ctx, request, where);
      const outcome = classifyHttpResponse(response.status, response.headers);
      ctx.log.debug(
        {
          dependent_system: compiled.dependentSystem,
          request: where,
          status: response.status,
          outcome: outcome.kind,
        },
        'service call',
      );
      if (outcome.kind === 'success') return response as ApiResponse<T>;
      throw toStepError(outcome, where, { response });
    },
  };
}

async function send(
  instance: AxiosInstance,
  ctx: StepHandlerContext<unknown>,
  request: ApiRequest,
  where: string,
): Promise<ApiResponse> {
  try {
    const response = await instance.request({
      method: request.method,
      url: request.url,
      data: request.data,
      params: request.params,
      signal: ctx.signal,
      headers: requestHeaders(ctx),
    });
    return { status: response.status, data: response.data, headers: plainHeaders(response.headers) };
  } catch (err) {
    throw toStepError(classifyTransportError(errorCode(err)), where, { cause: err });
  }
}

function requestHeaders(ctx: StepHandlerContext<unknown>): Record<string, string> {
  const headers: Record<string, string> = {
    'X-Correlation-ID': ctx.task.correlationId,
    'Idempotency-Key': ctx.idempotencyKey,
  };
  // With tracing on, the attempt's span is active here: the service joins the task's trace.
  propagation.inject(context.active(), headers);
  headers.traceparent ??= traceparentFor(ctx.task.correlationId);
  return headers;
}

/**
 * A W3C `traceparent` for when tracing is off: the trace id is derived from the correlation id
 * (so all calls of one task still share a trace id in the services' logs), the span id is fresh
 * per request.
 */
export function traceparentFor(correlationId: string): string {
  const traceId = createHash('sha256').update(correlationId).digest('hex').slice(0, 32);
  return `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
}

function headerValue(headers: HttpHeaders, name: string): string | string[] | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

function plainHeaders(raw: object): HttpHeaders {
  const json = 'toJSON' in raw && typeof raw.toJSON === 'function' ? (raw.toJSON() as object) : raw;
  const headers: HttpHeaders = {};
  for (const [key, value] of Object.entries(json)) {
    if (value === undefined || value === null) continue;
    headers[key.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return headers;
}

/** The error code of a thrown transport error; node puts it on the error or on its cause. */
function errorCode(err: unknown): string | undefined {
  const error = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = error?.code ?? error?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Longest service error message quoted in a step error; the attempt row keeps 2000 characters. */
const MAX_BODY_MESSAGE = 300;

/** `: <message>` from a body shaped `{ error: string }`, `{ message }` or `{ error: { message } }`. */
function bodyMessage(data: unknown): string {
  let text: unknown = data;
  if (typeof data === 'object' && data !== null) {
    const { error, message } = data as { error?: unknown; message?: unknown };
    text =
      typeof error === 'object' && error !== null
        ? (error as { message?: unknown }).message
        : (error ?? message);
  }
  return typeof text === 'string' && text.trim() ? `: ${text.trim().slice(0, MAX_BODY_MESSAGE)}` : '';
}

function describeCause(cause: unknown): string {
  const code = errorCode(cause);
  const message = cause === undefined ? '' : toError(cause).message;
  return `${code ? ` (${code})` : ''}${message ? `: ${message}` : ''}`;
}

function emptyResponse(status: number): ApiResponse {
  return { status, data: null, headers: {} };
}
