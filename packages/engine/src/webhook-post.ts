/**
 * One signed webhook POST over node:http(s), never throwing: the result says how it went.
 * Redirects are not followed (a 3xx is a failed attempt); one timeout covers the connection
 * and the answer's headers (the body is discarded).
 *
 * Private targets (core's privateAddressRange) are refused unless allowed, at the address the
 * connection is made to: the lookup that connects is the one checked, so a name that resolves
 * to a public address when the webhook is created and to a private one later (DNS rebinding)
 * is still refused. node:http, not fetch, because fetch takes no lookup of its own without a
 * dependency on undici.
 */
import { type LookupAddress, lookup } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { privateTargetRefusal, toError } from '@switchyard/core';
import type { DeliveryAttemptOutcome } from '@switchyard/db';

export type PostResult = { outcome: DeliveryAttemptOutcome; httpStatus: number | null; error: string | null };
export type PostOptions = { timeoutMs: number; allowPrivateTargets: boolean };

/** A refused private target: the attempt fails as a network error naming the rule. */
class PrivateTargetError extends Error {
  readonly code = 'PRIVATE_TARGET';
}

export function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: PostOptions,
): Promise<PostResult> {
  const target = new URL(url);
  // An IP literal is connected to without a lookup: it is checked here instead.
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const refusal = !options.allowPrivateTargets && isIP(host) ? privateTargetRefusal(host, host) : null;
  if (refusal) return Promise.resolve({ outcome: 'network_error', httpStatus: null, error: refusal });
  const requestOptions: RequestOptions = {
    method: 'POST',
    headers: { ...headers, 'user-agent': 'switchyard-webhooks', 'content-length': Buffer.byteLength(body) },
    signal: AbortSignal.timeout(options.timeoutMs),
    ...(options.allowPrivateTargets ? {} : { lookup: publicOnlyLookup }),
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostResult>((resolve) => {
    const request = send(target, requestOptions, (response: IncomingMessage) => {
      // The timeout may still end the discarded body: that is no longer the attempt's concern.
      response.on('error', () => {});
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(
        status >= 200 && status < 300
          ? { outcome: 'success', httpStatus: status, error: null }
          : { outcome: 'http_error', httpStatus: status, error: `HTTP ${status}` },
      );
    });
    request.on('error', (err) => resolve(failure(err, options.timeoutMs)));
    request.end(body);
  });
}

function failure(err: unknown, timeoutMs: number): PostResult {
  const error = toError(err);
  if (error.name === 'TimeoutError' || error.name === 'AbortError') {
    return { outcome: 'timeout', httpStatus: null, error: `no answer within ${timeoutMs} ms` };
  }
  return { outcome: 'network_error', httpStatus: null, error: error.message };
}

/**
 * dns.lookup for the connection, refusing a name any of whose addresses is private (a name
 * that mixes public and private addresses could be steered to the private one).
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const refusal = addresses
      .map(({ address }) => privateTargetRefusal(hostname, address))
      .find((reason) => reason !== null);
    if (refusal) return callback(new PrivateTargetError(refusal), '', 0);
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
};
