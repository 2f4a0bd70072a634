import { generateWebhookSecret } from '@switchyard/core';
import { createWebhook, withTransaction } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { startWebhookReceiver, type TestWebhookReceiver, waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningWebhookDelivery, startWebhookDelivery } from '../src/webhook-delivery.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

const logger = createLogger({ name: 'test', level: process.env.LOG_LEVEL ?? 'silent' });

let h: EngineHarness;
let receiver: TestWebhookReceiver;
const secret = generateWebhookSecret();
const running: RunningWebhookDelivery[] = [];

beforeAll(async () => {
  h = await createEngineHarness();
  receiver = await startWebhookReceiver({ secret: () => secret });
});
afterAll(async () => {
  for (const loop of running) await loop.stop();
  await receiver.close();
  await h.close();
});

/** A webhook made in the database directly, as one made before the API refused such URLs. */
function subscribe(url: string) {
  return withTransaction(h.pool, (client) =>
    createWebhook(client, { url, events: ['task.completed'], namespaces: null, secret, createdBy: 'test' }),
  );
}

async function lastAttempt(webhookId: string) {
  const { rows } = await h.pool.query(
    `SELECT outcome, error FROM webhook_delivery_attempts WHERE webhook_id = $1 ORDER BY id DESC LIMIT 1`,
    [webhookId],
  );
  return rows[0] as { outcome: string; error: string } | undefined;
}

describe('delivery to a private address', () => {
  it('fails without a request unless allowed, for a literal address and for a name resolved at delivery', async () => {
    const port = new URL(receiver.url).port;
    const literal = await subscribe(`http://127.0.0.1:${port}/hooks`);
    const named = await subscribe(`http://localhost:${port}/hooks`);
    const template = testTemplate({ steps: [{ name: 'a', handler: 'private_ok' }] });
    await h.start([defineStepHandler('private_ok', () => ({}))], [template]);
    const refused = startWebhookDelivery({
      pool: h.pool,
      logger,
      pollIntervalMs: 50,
      schedule: { delaysMs: [60_000], giveUpAfterMs: 3_600_000 },
    });
    running.push(refused);
    await h.create({ namespace: 'test', name: template.name, context: {} });

    const literalAttempt = await waitFor('the literal address refused', () => lastAttempt(literal.id));
    const namedAttempt = await waitFor('the resolved name refused', () => lastAttempt(named.id));
    expect(literalAttempt).toEqual({
      outcome: 'network_error',
      error: `127.0.0.1 is a loopback 127.0.0.0/8 address: webhooks reach public addresses only, unless SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS=true`,
    });
    expect(namedAttempt?.outcome).toBe('network_error');
    expect(namedAttempt?.error).toMatch(
      /^localhost \((127\.0\.0\.1|::1)\) is a loopback .*ALLOW_PRIVATE_TARGETS=true$/,
    );
    expect(receiver.requests).toHaveLength(0);
    await refused.stop();

    // The same deliveries go once private targets are allowed (retried at once here).
    await h.pool.query(`UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp()`);
    running.push(
      startWebhookDelivery({ pool: h.pool, logger, pollIntervalMs: 50, allowPrivateTargets: true }),
    );
    await waitFor('both delivered', async () => {
      const { rows } = await h.pool.query(
        `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'delivered'`,
      );
      return rows[0].n === 2;
    });
    // One event, two webhooks: two requests with the same webhook-id.
    expect(receiver.requests.map((r) => r.accepted)).toEqual([true, true]);
  });
});
