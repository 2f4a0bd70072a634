/**
 * The demo's own webhook receiver: it subscribes to `task.completed` of the registrations,
 * verifies every delivery's signature with verifyWebhook, and counts what arrived, as a service
 * told of finished registrations would.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SwitchyardClient, verifyWebhook } from '@switchyard/client';

/** What the demo's summary reports of the webhook deliveries. */
export type WebhookSummary = {
  /** Distinct `task.completed` events received for this run's registrations (retries counted once). */
  received: number;
  /** How many of those carried a valid signature. */
  verified: number;
  /** Completed registrations of this run no delivery announced. */
  missing: number;
};

export type WebhookReceiver = {
  /** Waits until every task in `completed` was announced, or `timeoutMs` passed. */
  waitFor(completed: readonly string[], timeoutMs: number): Promise<WebhookSummary>;
  close(): Promise<void>;
};

/** Starts the receiver on a free loopback port and subscribes it through the API. */
export async function startWebhookReceiver(client: SwitchyardClient): Promise<WebhookReceiver> {
  const verified = new Set<string>();
  const received = new Set<string>();
  let secret = '';
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const event = verifyWebhook(secret, request.headers, body);
        verified.add(String(event.data.task_id));
      } catch {
        // Counted as received but not verified; answered 2xx anyway so it is not retried.
      }
      const unverified = JSON.parse(body.toString('utf8') || '{}') as { data?: { task_id?: string } };
      if (unverified.data?.task_id) received.add(unverified.data.task_id);
      response.writeHead(204).end();
    });
  });
  await listen(server);
  const { port } = server.address() as AddressInfo;
  const webhook = await client.createWebhook({
    url: `http://127.0.0.1:${port}/switchyard`,
    events: ['task.completed'],
    namespaces: ['user_management'],
  });
  secret = webhook.secret;
  return {
    async waitFor(completed, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (completed.some((id) => !received.has(id)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const ours = completed.filter((id) => received.has(id));
      return {
        received: ours.length,
        verified: ours.filter((id) => verified.has(id)).length,
        missing: completed.length - ours.length,
      };
    },
    async close() {
      await client.deleteWebhook(webhook.id).catch(() => undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}
