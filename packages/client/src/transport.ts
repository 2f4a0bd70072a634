/**
 * The client's transport: one call over HTTP, retried when it is safe to repeat (a network error
 * or a 5xx), its problem document turned into SwitchyardApiError.
 */
import { randomUUID } from 'node:crypto';
import { type AxiosInstance, type AxiosResponse, isAxiosError } from 'axios';
import type { z } from 'zod';
import { ProblemSchema } from './contract.ts';
import { SwitchyardApiError, SwitchyardNetworkError } from './errors.ts';

/** Options of createSwitchyardClient. */
export type SwitchyardClientOptions = {
  /** Base URL of the API, e.g. `http://switchyard-api:8080`. */
  baseUrl: string;
  /** API key, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Correlation id sent as `X-Correlation-ID` on every request; default a new UUID per request. */
  correlationId?: string;
  /** Per-request timeout (ms). Default 10 000. */
  timeoutMs?: number;
  /**
   * Extra attempts of a call that is safe to repeat, after a network error or a 5xx. Default 3.
   * Reads are; so is every `createTask` (see there); the operator operations are not.
   */
  retries?: number;
  /** First retry delay (ms), doubled each time, with full jitter. Default 200. */
  retryBaseMs?: number;
};

/** One HTTP call of the API. */
export type Call = {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  query?: object;
  headers?: object;
};

/** Sends a call and parses its answer with `schema`; `idempotent` calls are retried. */
export type Send = <S extends z.ZodType>(call: Call, schema: S, idempotent: boolean) => Promise<z.output<S>>;

export async function request(
  http: AxiosInstance,
  options: SwitchyardClientOptions,
  call: Call,
  idempotent: boolean,
): Promise<AxiosResponse> {
  const retries = idempotent ? (options.retries ?? 3) : 0;
  for (let attempt = 0; ; attempt++) {
    const outcome = await attemptOnce(http, options, call);
    const retriable = outcome instanceof SwitchyardNetworkError || outcome.status >= 500;
    if (retriable && attempt < retries) {
      await sleep(Math.random() * (options.retryBaseMs ?? 200) * 2 ** attempt);
      continue;
    }
    if (outcome instanceof SwitchyardNetworkError) throw outcome;
    if (outcome.status >= 400) throw toApiError(outcome);
    return outcome;
  }
}

async function attemptOnce(
  http: AxiosInstance,
  options: SwitchyardClientOptions,
  call: Call,
): Promise<AxiosResponse | SwitchyardNetworkError> {
  try {
    return await http.request({
      method: call.method,
      url: call.path,
      data: call.body,
      params: call.query,
      headers: { 'x-correlation-id': options.correlationId ?? randomUUID(), ...call.headers },
    });
  } catch (err) {
    if (!isAxiosError(err)) throw err;
    return new SwitchyardNetworkError(`${call.method} ${call.path} failed: ${err.message}`, { cause: err });
  }
}

function toApiError(response: AxiosResponse): SwitchyardApiError {
  const parsed = ProblemSchema.safeParse(response.data);
  if (parsed.success) return new SwitchyardApiError(parsed.data);
  // Not a problem document (a proxy's error page, say): keep what is known.
  return new SwitchyardApiError({
    type: 'about:blank',
    title: response.statusText || 'HTTP error',
    status: response.status,
    detail: typeof response.data === 'string' ? response.data.slice(0, 500) : `HTTP ${response.status}`,
    code: 'http_error',
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
