/**
 * The billing service (port 7102): one billing profile per user.
 * `POST /billing/profiles` → 201; 402 for a paid plan without a payment method; 409 with the
 * existing profile on a duplicate user_id. `GET /billing/profiles/:user_id`.
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
import { checkUserAndPlan, type Plan } from './user.ts';

/** A stored billing profile. */
export type BillingProfile = {
  id: string;
  user_id: string;
  plan: Plan;
  payment_method: string | null;
  monthly_price_cents: number;
  status: 'active';
};

/** List prices; free needs no payment method, the others do. */
const MONTHLY_PRICE_CENTS: Readonly<Record<Plan, number>> = { free: 0, pro: 2_900, enterprise: 49_900 };

/** Creates the billing service over an empty store. */
export function billingService(): ServiceDefinition {
  const profiles = new Map<string, BillingProfile>();

  const create = (request: RouteRequest): JsonReply => {
    const body = objectBody(request.body);
    if (!body) return reply(400, { error: 'body must be a JSON object' });
    const problem = checkNewProfile(body);
    if (problem) return problem;
    const {
      user_id: userId,
      plan,
      payment_method: paymentMethod,
    } = body as Record<string, string | undefined>;
    const existing = profiles.get(userId as string);
    if (existing) return reply(409, { error: `user ${userId} has a billing profile`, profile: existing });
    if (plan !== 'free' && !paymentMethod) {
      return reply(402, {
        error: `payment required: plan ${plan} needs a payment_method`,
        code: 'payment_required',
      });
    }
    const profile: BillingProfile = {
      id: randomUUID(),
      user_id: userId as string,
      plan: plan as Plan,
      payment_method: paymentMethod ?? null,
      monthly_price_cents: MONTHLY_PRICE_CENTS[plan as Plan],
      status: 'active',
    };
    profiles.set(profile.user_id, profile);
    request.sideEffect();
    return reply(201, profile);
  };

  const find = (request: RouteRequest): JsonReply => {
    const profile = profiles.get(request.params.user_id ?? '');
    return profile
      ? reply(200, profile)
      : reply(404, { error: `no billing profile for ${request.params.user_id}` });
  };

  return {
    name: 'billing',
    routes: [
      { method: 'POST', path: '/billing/profiles', handle: create },
      { method: 'GET', path: '/billing/profiles/:user_id', handle: find },
    ],
    reset: () => profiles.clear(),
  };
}

function checkNewProfile(body: Record<string, unknown>): JsonReply | null {
  const missing = checkUserAndPlan(body);
  if (missing) return missing;
  const method = body.payment_method;
  if (method !== undefined && method !== null && typeof method !== 'string') {
    return invalid('payment_method', 'must be a string');
  }
  return null;
}
