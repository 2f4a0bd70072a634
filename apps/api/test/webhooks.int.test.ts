import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createSwitchyardClient,
  SwitchyardApiError,
  verifyWebhook,
  WebhookVerificationError,
} from '@switchyard/client';
import { webhookRequest } from '@switchyard/core';
import { type RunningWebhookDelivery, startWebhookDelivery } from '@switchyard/engine';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  // The receivers here listen on 127.0.0.1 (webhook-private-targets.int.test.ts tests the refusal).
  h = await createApiHarness({ allowPrivateWebhookTargets: true });
});
afterAll(() => h.close());

const client = () => createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey, retries: 0 });

describe('webhook routes', () => {
  it('create (with the secret, once), list, read, page the deliveries, delete (history kept, breaker gone)', async () => {
    const api = client();
    const created = await api.createWebhook({
      url: 'http://localhost:9/hooks',
      events: ['task.completed', 'user.registered'],
      namespaces: ['shop'],
    });
    expect(created).toMatchObject({
      url: 'http://localhost:9/hooks',
      events: ['task.completed', 'user.registered'],
      namespaces: ['shop'],
      deletedAt: null,
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const listed = await api.listWebhooks();
    expect(listed.map((w) => w.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    const read = await h.call('GET', `/v1/webhooks/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.body.secret).toBeUndefined();
    // The receiver's breaker is listed with the others from the start.
    const system = encodeURIComponent(`webhook:${created.id}`);
    expect((await h.call('GET', `/v1/breakers/${system}`)).body.breaker.state).toBe('closed');
    expect(await api.listWebhookDeliveries(created.id)).toEqual({ deliveries: [], nextCursor: null });

    const deleted = await api.deleteWebhook(created.id);
    expect(deleted.deletedAt).not.toBeNull();
    expect((await api.listWebhooks()).map((w) => w.id)).not.toContain(created.id);
    expect((await api.getWebhook(created.id)).deletedAt).toBe(deleted.deletedAt);
    expect((await h.call('GET', `/v1/breakers/${system}`)).status).toBe(404);
    const again = await h.call('DELETE', `/v1/webhooks/${created.id}`);
    expect(again.status).toBe(404);
    expect((await h.call('GET', '/v1/webhooks/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('answers 400 naming the field for an unknown event type, a non-HTTP(S) URL and a host that does not resolve', async () => {
    const before = (await h.pool.query('SELECT count(*)::int AS n FROM webhooks')).rows[0].n;
    const refused = async (body: unknown) => {
      const response = await h.call('POST', '/v1/webhooks', { body });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      return response.body.errors.map((e: { path: string; rule: string }) => `${e.path} ${e.rule}`);
    };
    const url = 'http://localhost:9/hooks';
    expect(await refused({ url, events: ['task.completed', 'task.complete', 'Not An Event'] })).toEqual([
      '/events/1 event_type',
      '/events/2 event_type',
    ]);
    expect(await refused({ url: 'ftp://localhost/hooks', events: ['task.completed'] })).toEqual([
      '/url http_url',
    ]);
    expect(await refused({ url: 'not a url', events: ['task.completed'] })).toEqual(['/url http_url']);
    expect(await refused({ url: 'https://nothing.invalid/hooks', events: ['task.completed'] })).toEqual([
      '/url resolvable_host',
    ]);
    const missing = await h.call('POST', '/v1/webhooks', { body: { url, events: [] } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].path).toBe('/events');
    expect((await h.pool.query('SELECT count(*)::int AS n FROM webhooks')).rows[0].n).toBe(before);
  });

  it('needs the admin scope and a key not restricted to namespaces', async () => {
    const body = { url: 'http://localhost:9/hooks', events: ['task.completed'] };
    const reader = await h.key(['tasks:read', 'operate']);
    expect((await h.call('POST', '/v1/webhooks', { body, key: reader })).status).toBe(403);
    expect((await h.call('GET', '/v1/webhooks', { key: reader })).status).toBe(403);
    const restricted = await h.key(['admin'], ['shop']);
    expect((await h.call('POST', '/v1/webhooks', { body, key: restricted })).status).toBe(403);
    await expect(
      createSwitchyardClient({ baseUrl: h.url, apiKey: reader }).listWebhooks(),
    ).rejects.toBeInstanceOf(SwitchyardApiError);
  });
});

describe('signing and verifying, against each other', () => {
  it("verifyWebhook accepts what the engine signs, and refuses it altered or signed with another webhook's secret", async () => {
    const api = client();
    const mine = await api.createWebhook({ url: 'http://localhost:9/a', events: ['task.completed'] });
    const theirs = await api.createWebhook({ url: 'http://localhost:9/b', events: ['task.completed'] });
    const event = {
      id: 'a7f3c1de-0000-4000-8000-000000000001',
      type: 'task.completed',
      occurredAt: new Date(),
      data: { task_id: 't1' },
    };
    const { headers, body } = webhookRequest(mine.secret, event, new Date());
    expect(verifyWebhook(mine.secret, headers, body)).toEqual({
      id: event.id,
      type: 'task.completed',
      timestamp: event.occurredAt.toISOString(),
      data: { task_id: 't1' },
    });
    expect(() => verifyWebhook(mine.secret, headers, body.replace('t1', 't2'))).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(theirs.secret, headers, body)).toThrow(/no webhook-signature matches/);
    const old = webhookRequest(mine.secret, event, new Date(Date.now() - 600_000));
    expect(() => verifyWebhook(mine.secret, old.headers, old.body)).toThrow(/more than 300 s/);
  });

  it('a receiver verifies real deliveries of a webhook made through the API, and the deliveries page shows them', async () => {
    const verified: string[] = [];
    const refused: string[] = [];
    let secret = '';
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        try {
          const payload = verifyWebhook(secret, request.headers, Buffer.concat(chunks));
          verified.push(String(payload.data.task_id));
          response.writeHead(204).end();
        } catch (err) {
          refused.push(String(err));
          response.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const template = apiTemplate({ steps: [{ name: 'a', handler: 'hook_ok' }] });
    await h.register([template]);
    await h.startWorker([defineStepHandler('hook_ok', () => ({ ok: true }))]);
    const api = client();
    const webhook = await api.createWebhook({
      url: `http://127.0.0.1:${port}/hooks`,
      events: ['task.completed'],
    });
    secret = webhook.secret;
    let delivery: RunningWebhookDelivery | null = null;
    try {
      delivery = startWebhookDelivery({
        pool: h.pool,
        logger: createLogger({ name: 'test', level: 'silent' }),
        pollIntervalMs: 50,
        allowPrivateTargets: true,
      });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push((await api.createTask({ namespace: 'shop', name: template.name, context: { i } })).task.id);
      }
      const deadline = Date.now() + 60_000;
      let page = await api.listWebhookDeliveries(webhook.id);
      while (page.deliveries.filter((d) => d.status === 'delivered').length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        page = await api.listWebhookDeliveries(webhook.id);
      }
      expect(refused).toEqual([]);
      expect(new Set(verified)).toEqual(new Set(ids));
      expect(page.deliveries).toHaveLength(3);
      expect(page.deliveries.map((d) => [d.status, d.attempts, d.lastHttpStatus, d.type])).toEqual(
        Array(3).fill(['delivered', 1, 204, 'task.completed']),
      );
      // Newest first, and paged.
      const ordered = page.deliveries.map((d) => Number(d.id));
      expect(ordered).toEqual([...ordered].sort((a, b) => b - a));
      const first = await api.listWebhookDeliveries(webhook.id, { limit: 2 });
      expect(first.deliveries).toHaveLength(2);
      const rest = await api.listWebhookDeliveries(webhook.id, { limit: 2, cursor: first.nextCursor! });
      expect(rest).toMatchObject({ nextCursor: null });
      expect(rest.deliveries.map((d) => d.id)).toEqual([page.deliveries[2]!.id]);
    } finally {
      await delivery?.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
