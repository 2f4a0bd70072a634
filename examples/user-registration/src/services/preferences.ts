/**
 * The preferences service (port 7103): one preferences record per user, seeded from its plan.
 * `POST /preferences` → 201 (409 with the existing record on a duplicate), `GET /preferences/:user_id`.
 */
import {
  invalid,
  type JsonReply,
  objectBody,
  type RouteRequest,
  reply,
  type ServiceDefinition,
} from './kit.ts';
import { checkUserAndPlan, type Plan } from './user.ts';

/** What a plan starts with. */
export type PreferenceSettings = {
  theme: 'light' | 'dark';
  email_digest: 'weekly' | 'daily';
  max_projects: number;
};

/** A stored preferences record. */
export type Preferences = {
  user_id: string;
  plan: Plan;
  marketing_opt_in: boolean;
  settings: PreferenceSettings;
};

/** The defaults of each plan (the later breaker fallback uses the same table). */
export const PLAN_DEFAULTS: Readonly<Record<Plan, PreferenceSettings>> = {
  free: { theme: 'light', email_digest: 'weekly', max_projects: 3 },
  pro: { theme: 'light', email_digest: 'daily', max_projects: 50 },
  enterprise: { theme: 'dark', email_digest: 'daily', max_projects: 1_000 },
};

/** Creates the preferences service over an empty store. */
export function preferencesService(): ServiceDefinition {
  const records = new Map<string, Preferences>();

  const create = (request: RouteRequest): JsonReply => {
    const body = objectBody(request.body);
    if (!body) return reply(400, { error: 'body must be a JSON object' });
    const problem = checkNewPreferences(body);
    if (problem) return problem;
    const userId = body.user_id as string;
    const existing = records.get(userId);
    if (existing) return reply(409, { error: `user ${userId} has preferences`, preferences: existing });
    const plan = body.plan as Plan;
    const record: Preferences = {
      user_id: userId,
      plan,
      // Opt-in must be explicit (GDPR): absent means no.
      marketing_opt_in: body.marketing_opt_in === true,
      // The caller's choices win over the plan's defaults.
      settings: { ...PLAN_DEFAULTS[plan], ...(objectBody(body.settings) ?? {}) },
    };
    records.set(userId, record);
    request.sideEffect();
    return reply(201, record);
  };

  const find = (request: RouteRequest): JsonReply => {
    const record = records.get(request.params.user_id ?? '');
    return record
      ? reply(200, record)
      : reply(404, { error: `no preferences for ${request.params.user_id}` });
  };

  return {
    name: 'preferences',
    routes: [
      { method: 'POST', path: '/preferences', handle: create },
      { method: 'GET', path: '/preferences/:user_id', handle: find },
    ],
    reset: () => records.clear(),
  };
}

function checkNewPreferences(body: Record<string, unknown>): JsonReply | null {
  const missing = checkUserAndPlan(body);
  if (missing) return missing;
  if (body.marketing_opt_in !== undefined && typeof body.marketing_opt_in !== 'boolean') {
    return invalid('marketing_opt_in', 'must be a boolean');
  }
  if (body.settings !== undefined && !objectBody(body.settings))
    return invalid('settings', 'must be an object');
  return null;
}
