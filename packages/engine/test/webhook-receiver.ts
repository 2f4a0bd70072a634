/**
 * A real HTTP receiver of webhooks for tests: a node:http server on 127.0.0.1 that records
 * every request, checks its signature with its own HMAC (independent of the code under test),
 * and answers 204, or 503 while `down`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedWebhook = {
  id: string;
  timestamp: number;
  signatureValid: boolean;
  type: string;
  data: Record<string, unknown>;
  /** Whether this request was answered 2xx. */
  accepted: boolean;
  receivedAt: Date;
};

export type TestReceiver = {
  url: string;
  /** Every request, in arrival order. */
  requests: ReceivedWebhook[];
  /** The first accepted request of each webhook-id, in the order they were accepted. */
  accepted(): ReceivedWebhook[];
  setDown(down: boolean): void;
  close(): Promise<void>;
};

export function expectedSignature(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export async function startTestReceiver(secret: () => string): Promise<TestReceiver> {
  let down = false;
  const requests: ReceivedWebhook[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(request.headers['webhook-id']);
      const timestamp = String(request.headers['webhook-timestamp']);
      const given = Buffer.from(String(request.headers['webhook-signature']));
      const wanted = Buffer.from(expectedSignature(secret(), id, timestamp, body));
      const parsed = JSON.parse(body);
      requests.push({
        id,
        timestamp: Number(timestamp),
        signatureValid: given.length === wanted.length && timingSafeEqual(given, wanted),
        type: parsed.type,
        data: parsed.data,
        accepted: !down,
        receivedAt: new Date(),
      });
      response.writeHead(down ? 503 : 204).end();
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

/** Polls `check` until it returns a truthy value; fails after `timeoutMs` naming `what`. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
