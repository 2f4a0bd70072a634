/**
 * Webhooks, pure: which events a subscription receives, when a failed delivery is tried again,
 * and the Standard Webhooks signature (https://www.standardwebhooks.com/). The delivery loop
 * (packages/engine/src/webhook-delivery.ts) applies these; the client's verifyWebhook checks the
 * signature on the receiving side with its own copy of the rule (the client depends on no
 * workspace package), and a test holds the two to each other and to a fixed vector.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isLifecycleEventType } from './events.ts';
import { EVENT_NAME_PATTERN } from './template-schema.ts';

/**
 * A webhook's receiver is a dependent system like any service a step calls: its breaker is the
 * row `webhook:<webhook id>` in circuit_breakers. Template names of dependent systems cannot
 * contain ':' (NAME_PATTERN), so the two kinds never collide.
 */
export const WEBHOOK_SYSTEM_PREFIX = 'webhook:';

export function webhookSystem(webhookId: string): string {
  return `${WEBHOOK_SYSTEM_PREFIX}${webhookId}`;
}

/** The webhook id of a webhook receiver's dependent system, or null for a service steps call. */
export function webhookIdOfSystem(system: string): string | null {
  return system.startsWith(WEBHOOK_SYSTEM_PREFIX) ? system.slice(WEBHOOK_SYSTEM_PREFIX.length) : null;
}

/** The families of Switchyard's own events: a name in them must be one of the catalog. */
const LIFECYCLE_FAMILIES = ['task.', 'step.', 'breaker.'];

/**
 * Whether a subscription may name `type`: a lifecycle event of the catalog, or a name a handler
 * may publish (`user.registered`: dotted lowercase words, EVENT_NAME_PATTERN) outside the
 * lifecycle families, so that a typo of a lifecycle event (`task.complete`) is refused rather
 * than accepted as a subscription that never fires.
 */
export function isSubscribableEventType(type: string): boolean {
  if (isLifecycleEventType(type)) return true;
  return EVENT_NAME_PATTERN.test(type) && !LIFECYCLE_FAMILIES.some((family) => type.startsWith(family));
}

/** What a subscription asks for. */
export type WebhookSubscription = {
  id: string;
  events: readonly string[];
  /** Only events of these namespaces; null: every namespace, and events that have none. */
  namespaces: readonly string[] | null;
};

/** What the fan-out knows of an event when it matches subscriptions. */
export type EventForMatching = { type: string; namespace: string | null; data: Record<string, unknown> };

/**
 * Whether a webhook receives an event: its type is subscribed, and its namespace is one the
 * webhook is limited to (or the webhook has no limit). Breaker events have no namespace, so
 * they reach only webhooks without a namespace limit: a namespace-limited subscriber hears of
 * its own namespace only, and a breaker is shared by every namespace.
 *
 * A webhook never receives the breaker events of its own receiver. breaker.opened announces
 * that the receiver is failing, so it could not be delivered until the receiver recovers,
 * and every delivery to it would be one more call judged by that same breaker: held, then
 * released as a probe, each reopen (half_open → open) adding another event for it. The
 * receiver learns nothing it can act on (it was down), and the loop is cut at its source.
 * Other webhooks subscribed to breaker events still get them.
 */
export function webhookReceives(subscription: WebhookSubscription, event: EventForMatching): boolean {
  if (!subscription.events.includes(event.type)) return false;
  if (subscription.namespaces !== null) {
    if (event.namespace === null || !subscription.namespaces.includes(event.namespace)) return false;
  }
  if (event.type === 'breaker.opened' || event.type === 'breaker.closed') {
    if (event.data.dependent_system === webhookSystem(subscription.id)) return false;
  }
  return true;
}

/**
 * A delivery's statuses (the CHECK constraint of webhook_deliveries): pending until delivered (a
 * 2xx) or failed (the schedule gave up, the event is gone, or the webhook was deleted).
 */
export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];
/** The statuses a delivery ends in. */
export const WEBHOOK_DELIVERY_ENDED: readonly WebhookDeliveryStatus[] = ['delivered', 'failed'];

/** When failed deliveries are tried again, and for how long. */
export type DeliverySchedule = {
  /** Delay before attempt 2, 3, ... (ms); past the end of the list, the last delay repeats. */
  delaysMs: readonly number[];
  /** A failed attempt later than this after the event (ms) ends the delivery as failed. */
  giveUpAfterMs: number;
};

/** 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h, for at least 24 h after the event. */
export const DELIVERY_SCHEDULE_DEFAULTS: DeliverySchedule = {
  delaysMs: [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000],
  giveUpAfterMs: 86_400_000,
};

/**
 * After failed attempt number `attempts` (1-based) of a delivery: when to try again, or to give
 * up. The delivery gives up only once a failure comes later than `giveUpAfterMs` after the
 * event, so every event is tried for at least that long; time a delivery waits behind an open
 * breaker is not an attempt.
 */
export function decideAfterDeliveryFailure(
  schedule: DeliverySchedule,
  input: { attempts: number; occurredAt: Date; now: Date },
): { retryAt: Date } | { giveUp: true } {
  if (input.now.getTime() - input.occurredAt.getTime() >= schedule.giveUpAfterMs) return { giveUp: true };
  const index = Math.min(Math.max(0, input.attempts - 1), schedule.delaysMs.length - 1);
  return { retryAt: new Date(input.now.getTime() + (schedule.delaysMs[index] ?? 0)) };
}

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` + base64 of 24 random bytes. */
export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(24).toString('base64')}`;
}

/** The HMAC key of a secret: the base64-decoded part after `whsec_`. */
export function webhookSigningKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX)
    ? secret.slice(WEBHOOK_SECRET_PREFIX.length)
    : secret;
  return Buffer.from(encoded, 'base64');
}

/**
 * The `webhook-signature` header of a delivery: `v1,` + base64 HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the secret's decoded bytes.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', webhookSigningKey(secret))
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${mac}`;
}

/** The headers and body of one attempt to deliver an event. */
export function webhookRequest(
  secret: string,
  event: { id: string; type: string; occurredAt: Date; data: unknown },
  now: Date,
): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify({
    type: event.type,
    timestamp: event.occurredAt.toISOString(),
    data: event.data,
  });
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(secret, event.id, timestamp, body),
    },
  };
}
