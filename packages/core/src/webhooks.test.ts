import { describe, expect, it } from 'vitest';
import {
  DELIVERY_SCHEDULE_DEFAULTS,
  decideAfterDeliveryFailure,
  generateWebhookSecret,
  isSubscribableEventType,
  webhookIdOfSystem,
  webhookReceives,
  webhookSigningKey,
  webhookSystem,
} from './webhooks.ts';

const event = (type: string, namespace: string | null, data: Record<string, unknown> = {}) => ({
  type,
  namespace,
  data,
});

describe('webhookReceives', () => {
  const all = { id: 'w1', events: ['task.completed', 'breaker.opened'], namespaces: null };
  const billing = { id: 'w2', events: ['task.completed', 'breaker.opened'], namespaces: ['billing'] };

  it('delivers subscribed types of the subscribed namespaces only', () => {
    expect(webhookReceives(all, event('task.completed', 'billing'))).toBe(true);
    expect(webhookReceives(all, event('task.failed', 'billing'))).toBe(false);
    expect(webhookReceives(billing, event('task.completed', 'billing'))).toBe(true);
    expect(webhookReceives(billing, event('task.completed', 'users'))).toBe(false);
  });

  it('delivers breaker events (no namespace) only to webhooks without a namespace limit', () => {
    const opened = event('breaker.opened', null, { dependent_system: 'billing' });
    expect(webhookReceives(all, opened)).toBe(true);
    expect(webhookReceives(billing, opened)).toBe(false);
  });

  it("never delivers a webhook its own receiver's breaker events", () => {
    expect(
      webhookReceives(all, event('breaker.opened', null, { dependent_system: webhookSystem('w1') })),
    ).toBe(false);
    expect(
      webhookReceives(all, event('breaker.opened', null, { dependent_system: webhookSystem('w9') })),
    ).toBe(true);
  });
});

describe('event types a subscription may name', () => {
  it('accepts the lifecycle catalog and handler event names, nothing else', () => {
    expect(isSubscribableEventType('task.completed')).toBe(true);
    expect(isSubscribableEventType('user.registered')).toBe(true);
    expect(isSubscribableEventType('task.complete')).toBe(false);
    expect(isSubscribableEventType('Task.Completed')).toBe(false);
    expect(isSubscribableEventType('completed')).toBe(false);
    expect(isSubscribableEventType('task completed')).toBe(false);
  });
});

describe('decideAfterDeliveryFailure', () => {
  const occurredAt = new Date('2026-12-04T00:00:00Z');
  const at = (ms: number) => new Date(occurredAt.getTime() + ms);

  it('retries on the schedule, repeating its last delay, until a day after the event', () => {
    const next = (attempts: number, nowMs: number) =>
      decideAfterDeliveryFailure(DELIVERY_SCHEDULE_DEFAULTS, { attempts, occurredAt, now: at(nowMs) });
    expect(next(1, 1_000)).toEqual({ retryAt: at(6_000) });
    expect(next(2, 10_000)).toEqual({ retryAt: at(40_000) });
    expect(next(20, 3_600_000)).toEqual({ retryAt: at(3_600_000 + 7_200_000) });
    expect(next(30, 86_400_000)).toEqual({ giveUp: true });
  });
});

describe('names and secrets', () => {
  it('names a webhook receiver as a dependent system no template can use', () => {
    expect(webhookIdOfSystem(webhookSystem('abc'))).toBe('abc');
    expect(webhookIdOfSystem('billing')).toBeNull();
  });

  it('makes whsec_ secrets of 24 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(webhookSigningKey(secret)).toHaveLength(24);
  });
});
