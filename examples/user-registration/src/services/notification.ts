/**
 * The notification service (port 7104): queues welcome messages, rate-limited per user.
 * `POST /notifications/welcome` → 202; past `rateLimitPerMinute` calls for one user within a
 * minute → 429 with `Retry-After` (seconds until the oldest call leaves the window).
 */
import { randomUUID } from 'node:crypto';
import {
  invalid,
  type JsonReply,
  objectBody,
  type RouteRequest,
  reply,
  type ServiceDefinition,
} from './kit.ts';

/** Options of {@link notificationService}. */
export type NotificationOptions = {
  /** Welcome calls allowed per user per sliding minute; default 5. */
  rateLimitPerMinute?: number;
  /** The clock of the rate limiter, in ms; default `Date.now`. */
  now?: () => number;
};

/** A queued notification. */
export type Notification = {
  id: string;
  user_id: string;
  email: string;
  template: 'welcome';
  status: 'queued';
};

const WINDOW_MS = 60_000;

/** Creates the notification service with an empty outbox. */
export function notificationService(options: NotificationOptions = {}): ServiceDefinition {
  const limit = options.rateLimitPerMinute ?? 5;
  const now = options.now ?? Date.now;
  const outbox: Notification[] = [];
  const callsByUser = new Map<string, number[]>();

  const welcome = (request: RouteRequest): JsonReply => {
    const body = objectBody(request.body);
    if (!body) return reply(400, { error: 'body must be a JSON object' });
    if (typeof body.user_id !== 'string' || !body.user_id)
      return invalid('user_id', 'must be a non-empty string');
    if (typeof body.email !== 'string' || !body.email.includes('@'))
      return invalid('email', 'must be an email address');
    const waitMs = admitCall(callsByUser, body.user_id, limit, now());
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      const error = `rate limited: at most ${limit} welcome calls per user per minute`;
      return reply(429, { error }, { 'retry-after': String(seconds) });
    }
    const notification: Notification = {
      id: randomUUID(),
      user_id: body.user_id,
      email: body.email,
      template: 'welcome',
      status: 'queued',
    };
    outbox.push(notification);
    request.sideEffect();
    return reply(202, notification);
  };

  return {
    name: 'notification',
    routes: [{ method: 'POST', path: '/notifications/welcome', handle: welcome }],
    reset: () => {
      outbox.length = 0;
      callsByUser.clear();
    },
  };
}

/** Records a call in the user's sliding window; returns 0 when admitted, else ms until a slot frees. */
function admitCall(callsByUser: Map<string, number[]>, userId: string, limit: number, at: number): number {
  const recent = (callsByUser.get(userId) ?? []).filter((t) => t > at - WINDOW_MS);
  callsByUser.set(userId, recent);
  if (recent.length >= limit) return (recent[0] ?? at) + WINDOW_MS - at;
  recent.push(at);
  return 0;
}
