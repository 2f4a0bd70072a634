import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '@switchyard/client';
import { generateWebhookSecret } from '@switchyard/core';
import { createWebhook, withTransaction } from '@switchyard/db';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, recordedTemplate, spawnAppProcess, startFleet, waitFor } from './harness.ts';

const DEADLINE_MS = 120_000;

let fleet: Fleet;
let receiver: Receiver;
beforeEach(async () => {
  fleet = await startFleet();
}, DEADLINE_MS);
afterEach(async () => {
  await receiver?.close();
  await fleet.close();
}, DEADLINE_MS);

/** A receiver that verifies each delivery with verifyWebhook and answers after `delayMs`. */
type Receiver = {
  url: string;
  requests: { id: string; taskId: string; valid: boolean }[];
  close(): Promise<void>;
};

async function startReceiver(secret: string, delayMs: number): Promise<Receiver> {
  const requests: Receiver['requests'] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      let entry = { id: String(request.headers['webhook-id']), taskId: '', valid: false };
      try {
        const payload = verifyWebhook(secret, request.headers, Buffer.concat(chunks));
        entry = { id: payload.id, taskId: String(payload.data.task_id), valid: true };
      } catch {}
      requests.push(entry);
      setTimeout(() => response.writeHead(entry.valid ? 204 : 400).end(), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function subscribe(delayMs: number) {
  const secret = generateWebhookSecret();
  receiver = await startReceiver(secret, delayMs);
  return withTransaction(fleet.pool, (client) =>
    createWebhook(client, {
      url: receiver.url,
      events: ['task.completed'],
      namespaces: null,
      secret,
      createdBy: 'e2e',
    }),
  );
}

async function deliveredCount(webhookId: string): Promise<number> {
  const { rows } = await fleet.pool.query(
    `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'delivered'`,
    [webhookId],
  );
  return rows[0].n;
}

describe('webhook deliveries survive the delivering process', () => {
  it('SIGKILL mid-flight: every task.completed reaches the receiver, valid, none missing', {
    timeout: 4 * DEADLINE_MS,
  }, async () => {
    const webhook = await subscribe(150);
    fleet.spawnWorker();
    const ids = await fleet.createTasks(recordedTemplate('hooked', 1), 50);
    const deliverer = (claimer: string) =>
      spawnAppProcess('tests/e2e/fixtures/webhook-deliverer.ts', {
        DATABASE_URL: fleet.databaseUrl,
        CLAIMER: claimer,
      });
    const doomed = deliverer('doomed');
    await waitFor('the first deliveries', async () => receiver.requests.length >= 10);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const { rows: orphaned } = await fleet.pool.query(
      `SELECT id FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending' AND claimed_by = 'doomed'`,
      [webhook.id],
    );
    // The kill landed mid-flight: the dead process held claims it never finished.
    expect(orphaned.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    deliverer('survivor');
    await waitFor('all 50 delivered', async () => (await deliveredCount(webhook.id)) === 50, DEADLINE_MS);
    await fleet.waitForTasks(ids, DEADLINE_MS);

    expect(receiver.requests.every((r) => r.valid)).toBe(true);
    expect(new Set(receiver.requests.map((r) => r.taskId))).toEqual(new Set(ids));
    const { rows: retaken } = await fleet.pool.query(
      `SELECT DISTINCT a.claimed_by FROM webhook_delivery_attempts a WHERE a.delivery_id = ANY($1::bigint[])`,
      [orphaned.map((row) => row.id)],
    );
    expect(retaken.map((row) => row.claimed_by)).toEqual(['survivor']);
    const duplicates = receiver.requests.length - new Set(receiver.requests.map((r) => r.id)).size;
    console.log(
      `[measure] SIGKILL with ${orphaned.length} deliveries in flight: all 50 delivered ${Date.now() - killedAt} ms after the kill (lease 3000 ms), ${duplicates} received twice (deduplicated by webhook-id)`,
    );
  });

  it('the scheduler role process delivers (the loop starts with the scheduler)', {
    timeout: 2 * DEADLINE_MS,
  }, async () => {
    const webhook = await subscribe(0);
    fleet.spawnWorker();
    const ids = await fleet.createTasks(recordedTemplate('hooked_role', 1), 5);
    const scheduler = spawnAppProcess('apps/scheduler/src/main.ts', {
      DATABASE_URL: fleet.databaseUrl,
      REDIS_URL: fleet.redisServer.url,
      SWITCHYARD_QUEUE_PREFIX: 'e2e',
      LOG_LEVEL: 'warn',
    });
    try {
      await waitFor(
        '5 delivered by the scheduler process',
        async () => (await deliveredCount(webhook.id)) === 5,
      );
      expect(new Set(receiver.requests.map((r) => r.taskId))).toEqual(new Set(ids));
    } finally {
      scheduler.child.kill('SIGTERM');
      await scheduler.exited;
    }
  });
});
