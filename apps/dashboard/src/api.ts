/**
 * The dashboard's only way to the data: the public HTTP API, same origin, with the operator's
 * API key. The key lives in sessionStorage, so it is gone when the tab closes and never
 * reaches another tab or the server's logs as anything but the usual Authorization header.
 */
import type { Problem } from '@switchyard/client';

const KEY_STORAGE = 'switchyard.apiKey';

export function storedApiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** An API answer other than 2xx, with the problem details the API sends. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Partial<Problem>;

  constructor(status: number, problem: Partial<Problem>) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

type Query = Record<string, string | number | undefined | null>;

/** `path` with the non-empty query parameters appended. */
export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Calls the API and returns its JSON body; throws {@link ApiError} for any non-2xx answer. */
export async function callApi<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = storedApiKey();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const payload: unknown = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, payload as Partial<Problem>);
  return payload as T;
}

/** Path segment of a name from the data (a step or system name may hold any character). */
export const segment = encodeURIComponent;
