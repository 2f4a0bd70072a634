import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from './verify-webhook.ts';

// The Standard Webhooks reference vector (github.com/standard-webhooks/standard-webhooks).
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const body = '{"type":"task.completed","timestamp":"2021-02-25T15:02:10.000Z","data":{"test":2432232314}}';
const vectorBody = '{"test": 2432232314}';
const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const timestamp = '1614265330';
const now = new Date(1614265330 * 1000);
const vectorSignature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

describe('verifyWebhook', () => {
  it('accepts the reference vector', () => {
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': vectorSignature,
    };
    expect(() => verifyWebhook(secret, headers, vectorBody, { now })).not.toThrow();
  });

  it('accepts any matching signature among several, and fetch-style headers', () => {
    const headers = new Headers({
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': `v1,bm90IGl0 v2,whatever ${vectorSignature}`,
    });
    expect(verifyWebhook(secret, headers, vectorBody, { now }).id).toBe(id);
  });

  it('refuses an altered body, a wrong secret, a stale timestamp and missing headers, saying which', () => {
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': vectorSignature,
    };
    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(WebhookVerificationError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal(() => verifyWebhook(secret, headers, `${vectorBody} `, { now }))).toMatch(
      /no webhook-signature matches/,
    );
    expect(
      refusal(() => verifyWebhook('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA', headers, vectorBody, { now })),
    ).toMatch(/no webhook-signature matches/);
    const later = new Date(now.getTime() + 301_000);
    expect(refusal(() => verifyWebhook(secret, headers, vectorBody, { now: later }))).toMatch(
      /more than 300 s/,
    );
    expect(verifyWebhook(secret, headers, vectorBody, { now: later, toleranceSeconds: 400 }).id).toBe(id);
    expect(
      refusal(() => verifyWebhook(secret, { ...headers, 'webhook-id': undefined }, vectorBody, { now })),
    ).toMatch(/missing webhook-id/);
    expect(
      refusal(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': 'x' }, vectorBody, { now })),
    ).toMatch(/not unix seconds/);
  });

  it('returns the parsed payload', () => {
    // Signed here with the same rule as the vector, over a Switchyard-shaped body.
    const key = Buffer.from(secret.slice(6), 'base64');
    const signature = `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
    const payload = verifyWebhook(
      secret,
      { 'Webhook-Id': id, 'Webhook-Timestamp': timestamp, 'Webhook-Signature': signature },
      Buffer.from(body),
      { now },
    );
    expect(payload).toEqual({
      id,
      type: 'task.completed',
      timestamp: '2021-02-25T15:02:10.000Z',
      data: { test: 2432232314 },
    });
  });
});
