/**
 * A real HTTP receiver of webhooks for tests: a node:http server on 127.0.0.1 that records
 * every request and checks its signature with its own HMAC (independent of the code under test,
 * which signs in core and verifies in the client). It answers 204, 503 while `down`, and 400
 * when the optional `verify` (verifyWebhook, say) throws; `delayMs` holds each answer back.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedWebhook = {
  id: string;
  timestamp: number;
  /** The signature matches this receiver's own HMAC of the request. */
  signatureValid: boolean;
  /** Whether `verify` accepted the request; null without `verify`. */
  verified: boolean | null;
  type: string;
  data: Record<string, unknown>;
  /** Whether this request was answered 2xx. */
  accepted: boolean;
  receivedAt: Date;
};

export type TestWebhookReceiverOptions = {
  /** The webhook's signing secret (read at each request: the test may learn it later). */
  secret: () => string;
  /** How long each answer waits, to keep deliveries in flight. Default 0. */
  delayMs?: number;
  /** An extra check of each request; a throw answers 400. */
  verify?: (headers: IncomingHttpHeaders, body: Buffer) => unknown;
};

export type TestWebhookReceiver = {
  url: string;
  /** Every request, in arrival order. */
  requests: ReceivedWebhook[];
  /** The first accepted request of each webhook-id, in the order they were accepted. */
  accepted(): ReceivedWebhook[];
  setDown(down: boolean): void;
  close(): Promise<void>;
};

/** The Standard Webhooks `v1,<base64 HMAC-SHA256>` of a request, computed independently. */
export function expectedWebhookSignature(
  secret: string,
  id: string,
  timestamp: string,
  body: string,
): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export async function startWebhookReceiver(
  options: TestWebhookReceiverOptions,
): Promise<TestWebhookReceiver> {
  let down = false;
  const requests: ReceivedWebhook[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const received = receive(request.headers, Buffer.concat(chunks), options);
      requests.push({ ...received, accepted: !down && received.verified !== false });
      const status = down ? 503 : received.verified === false ? 400 : 204;
      setTimeout(() => response.writeHead(status).end(), options.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    accepted() {
      const seen = new Set<string>();
      return requests.filter((r) => r.accepted && !seen.has(r.id) && seen.add(r.id));
    },
    setDown(value) {
      down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function receive(
  headers: IncomingHttpHeaders,
  raw: Buffer,
  options: TestWebhookReceiverOptions,
): Omit<ReceivedWebhook, 'accepted'> {
  const body = raw.toString('utf8');
  const id = String(headers['webhook-id']);
  const timestamp = String(headers['webhook-timestamp']);
  const given = Buffer.from(String(headers['webhook-signature']));
  const wanted = Buffer.from(expectedWebhookSignature(options.secret(), id, timestamp, body));
  const parsed = JSON.parse(body);
  return {
    id,
    timestamp: Number(timestamp),
    signatureValid: given.length === wanted.length && timingSafeEqual(given, wanted),
    verified: options.verify ? passes(() => options.verify?.(headers, raw)) : null,
    type: parsed.type,
    data: parsed.data,
    receivedAt: new Date(),
  };
}

function passes(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}
