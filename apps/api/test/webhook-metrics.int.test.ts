import { BREAKER_POLICY_DEFAULTS, generateWebhookSecret, webhookSystem } from '@switchyard/core';
import { configureBreaker, createWebhook, forceBreaker, withTransaction } from '@switchyard/db';
import { type RunningWebhookDelivery, startWebhookDelivery } from '@switchyard/engine';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { startWebhookReceiver, type TestWebhookReceiver, waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const receivers: TestWebhookReceiver[] = [];
let delivery: RunningWebhookDelivery | null = null;
beforeAll(async () => {
  h = await createApiHarness();
});
afterAll(async () => {
  await delivery?.stop();
  for (const receiver of receivers) await receiver.close();
  await h.close();
});

async function subscribe(down: boolean) {
  const secret = generateWebhookSecret();
  const receiver = await startWebhookReceiver({ secret: () => secret });
  receiver.setDown(down);
  receivers.push(receiver);
  return withTransaction(h.pool, (client) =>
    createWebhook(client, {
      url: receiver.url,
      events: ['task.completed'],
      namespaces: null,
      secret,
      createdBy: 't',
    }),
  );
}

const metric = (text: string, line: string) => text.split('\n').find((l) => l.startsWith(`${line} `));

describe('webhook delivery metrics', () => {
  it('counts attempts delivered, failed and dead, and the pending deliveries held or not, from Postgres', {
    timeout: 120_000,
  }, async () => {
    const ok = await subscribe(false);
    const down = await subscribe(true);
    // The failing receiver's breaker never trips here, so its delivery fails until it gives up.
    await configureBreaker(h.pool, webhookSystem(down.id), {
      ...BREAKER_POLICY_DEFAULTS,
      consecutive_failures: 10_000,
      min_calls: 10_000,
    });
    const held = await subscribe(false);
    await forceBreaker(h.pool, {
      dependentSystem: webhookSystem(held.id),
      action: 'open',
      actor: 't',
      reason: 'receiver maintenance',
    });
    const template = apiTemplate({ steps: [{ name: 'a', handler: 'metrics_hook' }] });
    await h.register([template]);
    await h.startWorker([defineStepHandler('metrics_hook', () => ({}))]);
    await h.call('POST', '/v1/tasks', { body: { namespace: 'shop', name: template.name, context: {} } });
    delivery = startWebhookDelivery({
      pool: h.pool,
      logger: createLogger({ name: 'test', level: 'silent' }),
      pollIntervalMs: 50,
      schedule: { delaysMs: [50], giveUpAfterMs: 1_000 },
      allowPrivateTargets: true,
    });

    const status = async (webhookId: string) =>
      (await h.pool.query('SELECT status FROM webhook_deliveries WHERE webhook_id = $1', [webhookId])).rows[0]
        ?.status;
    await waitFor('delivered to the working receiver', async () => (await status(ok.id)) === 'delivered');
    await waitFor('the failing receiver given up', async () => (await status(down.id)) === 'failed');
    const { rows } = await h.pool.query(
      'SELECT count(*)::int AS n FROM webhook_delivery_attempts WHERE webhook_id = $1',
      [down.id],
    );
    const downAttempts = rows[0].n as number;
    expect(downAttempts).toBeGreaterThan(1);

    // Attempts are counted once settled (2 s old): scrape until the last one is in.
    const text = await waitFor('the dead delivery counted', async () => {
      const body = (await h.call('GET', '/metrics', { key: '' })).body as string;
      return metric(body, 'switchyard_webhook_deliveries_total{outcome="dead"}')?.endsWith(' 1')
        ? body
        : null;
    });
    expect(metric(text, 'switchyard_webhook_deliveries_total{outcome="delivered"}')).toMatch(/ 1$/);
    expect(metric(text, 'switchyard_webhook_deliveries_total{outcome="dead"}')).toMatch(/ 1$/);
    expect(metric(text, 'switchyard_webhook_deliveries_total{outcome="failed"}')).toBe(
      `switchyard_webhook_deliveries_total{outcome="failed"} ${downAttempts - 1}`,
    );
    expect(metric(text, 'switchyard_webhook_deliveries_pending{held="true"}')).toMatch(/ 1$/);
    expect(metric(text, 'switchyard_webhook_deliveries_pending{held="false"}')).toMatch(/ 0$/);
  });
});
