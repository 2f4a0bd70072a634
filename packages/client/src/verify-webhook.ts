/**
 * Verifying a delivery of Switchyard's webhooks (Standard Webhooks): the receiver recomputes
 * the signature over `<webhook-id>.<webhook-timestamp>.<raw body>` with its secret and compares
 * it in constant time, and refuses a timestamp too far from its clock (a replayed request).
 * Deduplicate on `webhook-id`: delivery is at least once, and every retry carries the same id.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A delivery whose signature or timestamp does not verify. */
export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

/** What a verified delivery carries. */
export type WebhookPayload = {
  /** The event's id (the `webhook-id` header): the same on every retry, for deduplication. */
  id: string;
  type: string;
  /** When the event occurred (ISO 8601). */
  timestamp: string;
  data: Record<string, unknown>;
};

export type VerifyWebhookOptions = {
  /** Largest distance between `webhook-timestamp` and now (seconds). Default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock; default now. */
  now?: Date;
};

type Headers = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: Headers, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Verifies a delivery and returns its parsed payload.
 * @param secret the webhook's secret (`whsec_...`), as returned when it was created.
 * @param headers the request's headers (Node's IncomingHttpHeaders, a plain object, or a fetch Headers).
 * @param body the raw request body, exactly as received (not re-serialized JSON).
 * @throws WebhookVerificationError naming what is missing or wrong.
 */
export function verifyWebhook(
  secret: string,
  headers: Headers,
  body: string | Buffer,
  options: VerifyWebhookOptions = {},
): WebhookPayload {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id) throw new WebhookVerificationError('missing webhook-id header');
  if (!timestamp) throw new WebhookVerificationError('missing webhook-timestamp header');
  if (!signatures) throw new WebhookVerificationError('missing webhook-signature header');
  if (!/^\d{1,15}$/.test(timestamp)) {
    throw new WebhookVerificationError(`webhook-timestamp "${timestamp}" is not unix seconds`);
  }
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > tolerance) {
    throw new WebhookVerificationError(
      `webhook-timestamp ${timestamp} is more than ${tolerance} s from now (${nowSeconds}): a replay, or a clock far off`,
    );
  }
  if (!secret.startsWith('whsec_')) throw new WebhookVerificationError('the secret must start with whsec_');
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${text}`).digest();
  // Several signatures may be sent (a secret being rotated): any v1 one that matches will do.
  const matches = signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches)
    throw new WebhookVerificationError('no webhook-signature matches: wrong secret, or the body was altered');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('the body is not JSON');
  }
  const payload = parsed as Partial<WebhookPayload>;
  return { id, type: String(payload.type), timestamp: String(payload.timestamp), data: payload.data ?? {} };
}
