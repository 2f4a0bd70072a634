/**
 * The seven step handlers of `user_registration.yaml`. Each service call goes through
 * `defineApiStepHandler`, so every call carries the correlation id and the step's idempotency
 * key, and every status is mapped to an outcome by handler-kit's one classifier: a handler here
 * only says what its step means (skip billing for free plans, treat a 409 as the existing record).
 * choose_plan_features calls nothing: it is the decision that runs provision_sso for enterprise
 * plans only.
 *
 * Base URLs come from each step's `handler_config.base_url`; the environment variables
 * USER_SERVICE_URL, BILLING_SERVICE_URL, PREFERENCES_SERVICE_URL and NOTIFICATION_SERVICE_URL
 * override them, read once when this module is imported.
 */
import {
  type DecisionResult,
  decide,
  defineApiStepHandler,
  defineStepHandler,
  PermanentError,
  type StepHandler,
  type StepHandlerContext,
} from '@switchyard/handler-kit';
import { PLAN_DEFAULTS } from './services/preferences.ts';

/** The task context (validated against the template's context_schema at task creation). */
export type RegistrationContext = {
  email: string;
  name: string;
  plan: 'free' | 'pro' | 'enterprise';
  payment_method?: string;
  marketing_opt_in?: boolean;
  /** The user's own choices; each overrides the plan's default. */
  preferences?: { theme?: 'light' | 'dark'; email_digest?: 'daily' | 'weekly' | 'never' };
};

type Ctx = StepHandlerContext<RegistrationContext>;

/**
 * Result of create_user_account. `outcome` is `already_exists` when the same person signed up
 * before (409 with the same email, name and plan): the registration carries on with that account.
 */
export type CreatedUser = {
  user_id: string;
  email: string;
  plan: string;
  status: string;
  outcome: 'created' | 'already_exists';
  existing: boolean;
};
/** Result of setup_billing_profile; free plans are `skipped_free_plan` without a call. */
export type BillingResult =
  | { status: 'skipped_free_plan'; skipped: true; user_id: string }
  | {
      status: 'created';
      skipped: false;
      user_id: string;
      profile_id: string;
      plan: string;
      existing: boolean;
    };
/** Result of initialize_preferences. */
export type PreferencesResult = { user_id: string; settings: unknown; existing: boolean };
/** Result of send_welcome_sequence. */
export type WelcomeResult = { user_id: string; notification_id: string; status: string };
/** Result of choose_plan_features: `activate` names the plan's extra steps (none but for enterprise). */
export type PlanFeatures = DecisionResult & { user_id: string; plan: RegistrationContext['plan'] };
/** Result of provision_sso: the enterprise user's SSO connection. */
export type SsoResult = { user_id: string; connection_id: string; domain: string; existing: boolean };
/** Result of update_user_status. */
export type StatusResult = { user_id: string; status: string };

type UserRecord = { id: string; email: string; name: string; plan: string; status: string };
type ProfileRecord = { id: string; user_id: string; plan: string };
type PreferencesRecord = { user_id: string; settings: unknown };

/**
 * Creates the account. A 409 means the email exists: the same person (same name and plan) is
 * `already_exists` and the registration goes on; anyone else is a permanent `USER_CONFLICT`,
 * and no later service is called.
 */
export const createUserAccount = defineApiStepHandler<RegistrationContext, CreatedUser>({
  name: 'create_user_account',
  dependentSystem: 'user_service',
  baseUrlEnv: 'USER_SERVICE_URL',
  async call(ctx, http) {
    const { email, name, plan } = registrationInput(ctx);
    const { data } = await http.request<UserRecord>({
      method: 'POST',
      url: '/users',
      data: { email, name, plan },
    });
    return createdUser(data, false);
  },
  async onConflict(ctx, http) {
    const { email, name, plan } = registrationInput(ctx);
    const { data } = await http.request<UserRecord>({ method: 'GET', url: '/users', params: { email } });
    if (data.name !== name || data.plan !== plan) {
      throw new PermanentError(`${email} is registered already with another name or plan`, {
        errorCode: 'USER_CONFLICT',
        httpStatus: 409,
      });
    }
    return createdUser(data, true);
  },
});

/** Creates the billing profile; free plans skip billing without a call. A 402 fails for good. */
export const setupBillingProfile = defineApiStepHandler<RegistrationContext, BillingResult>({
  name: 'setup_billing_profile',
  dependentSystem: 'billing_service',
  baseUrlEnv: 'BILLING_SERVICE_URL',
  async call(ctx, http) {
    const userId = parentUserId(ctx, 'create_user_account');
    const { plan, payment_method } = ctx.task.context;
    if (plan === 'free') return { status: 'skipped_free_plan', skipped: true, user_id: userId };
    const data = { user_id: userId, plan, payment_method };
    const response = await http.request<ProfileRecord>({ method: 'POST', url: '/billing/profiles', data });
    return billingResult(response.data, false);
  },
  // The 409 body carries the existing profile; fetch it only if a service version omits it.
  async onConflict(ctx, http, response) {
    const profile = (response.data as { profile?: ProfileRecord } | null)?.profile;
    if (profile) return billingResult(profile, true);
    const userId = parentUserId(ctx, 'create_user_account');
    const url = `/billing/profiles/${encodeURIComponent(userId)}`;
    return billingResult((await http.request<ProfileRecord>({ method: 'GET', url })).data, true);
  },
});

/**
 * Initializes preferences: the plan's defaults merged with the user's own choices; a 409
 * resolves to the existing record. While the preferences service's breaker is open the step
 * completes with those merged defaults (`on_breaker_open: fallback` in the template) instead of
 * waiting, and the result says `fallback_used: true`.
 */
export const initializePreferences = defineApiStepHandler<RegistrationContext, PreferencesResult>({
  name: 'initialize_preferences',
  dependentSystem: 'preferences_service',
  baseUrlEnv: 'PREFERENCES_SERVICE_URL',
  async call(ctx, http) {
    const userId = parentUserId(ctx, 'create_user_account');
    const { plan, marketing_opt_in } = ctx.task.context;
    const data = { user_id: userId, plan, marketing_opt_in, settings: chosenSettings(ctx) };
    const response = await http.request<PreferencesRecord>({ method: 'POST', url: '/preferences', data });
    return preferencesResult(response.data, false);
  },
  async onConflict(ctx, http) {
    const url = `/preferences/${encodeURIComponent(parentUserId(ctx, 'create_user_account'))}`;
    return preferencesResult((await http.request<PreferencesRecord>({ method: 'GET', url })).data, true);
  },
  fallback(ctx) {
    const userId = parentUserId(ctx, 'create_user_account');
    return { user_id: userId, settings: chosenSettings(ctx), existing: false };
  },
});

/** The plan's default settings with the user's own choices on top. */
function chosenSettings(ctx: Ctx) {
  return { ...PLAN_DEFAULTS[ctx.task.context.plan], ...ctx.task.context.preferences };
}

type NotificationRecord = { id: string; user_id: string; status: string };

/**
 * Sends the welcome sequence, personalised by plan, once billing and preferences are done; a
 * 429 waits exactly its Retry-After.
 */
export const sendWelcomeSequence = defineApiStepHandler<RegistrationContext, WelcomeResult>({
  name: 'send_welcome_sequence',
  dependentSystem: 'notification_service',
  baseUrlEnv: 'NOTIFICATION_SERVICE_URL',
  async call(ctx, http) {
    // Parents are the direct dependencies only, so the user id comes through them.
    parentUserId(ctx, 'setup_billing_profile');
    const userId = parentUserId(ctx, 'initialize_preferences');
    const { email, name, plan } = ctx.task.context;
    const data = { user_id: userId, email, name, plan, sequence: `welcome_${plan}` };
    const response = await http.request<NotificationRecord>({
      method: 'POST',
      url: '/notifications/welcome',
      data,
    });
    return { user_id: userId, notification_id: response.data.id, status: response.data.status };
  },
});

/** The plan's extra steps: provision_sso for enterprise, nothing for the others (it is skipped). */
export const PLAN_FEATURE_STEPS: Readonly<Record<RegistrationContext['plan'], readonly string[]>> = {
  free: [],
  pro: [],
  enterprise: ['provision_sso'],
};

/**
 * The decision: which of the plan's extra steps run. It passes the user id on, since
 * provision_sso's only parent is this step.
 */
export const choosePlanFeatures = defineStepHandler<RegistrationContext, PlanFeatures>(
  'choose_plan_features',
  (ctx) => {
    const userId = parentUserId(ctx, 'create_user_account');
    const { plan } = ctx.task.context;
    const steps = PLAN_FEATURE_STEPS[plan];
    if (!steps) {
      throw new PermanentError(`unknown plan ${JSON.stringify(plan)}`, { errorCode: 'invalid_context' });
    }
    return decide(steps, { user_id: userId, plan }) as PlanFeatures;
  },
);

type SsoRecord = { id: string; user_id: string; domain: string };

/**
 * Provisions the enterprise user's SSO connection for the domain of their email; a 409 (a
 * connection exists) resolves to that connection.
 */
export const provisionSso = defineApiStepHandler<RegistrationContext, SsoResult>({
  name: 'provision_sso',
  dependentSystem: 'user_service',
  baseUrlEnv: 'USER_SERVICE_URL',
  async call(ctx, http) {
    const userId = parentUserId(ctx, 'choose_plan_features');
    const domain = ctx.task.context.email.slice(ctx.task.context.email.lastIndexOf('@') + 1);
    const url = `/users/${encodeURIComponent(userId)}/sso`;
    const response = await http.request<SsoRecord>({ method: 'POST', url, data: { domain } });
    return ssoResult(response.data, false);
  },
  // The 409 body carries the existing connection; fetch it only if a service version omits it.
  async onConflict(ctx, http, response) {
    const connection = (response.data as { connection?: SsoRecord } | null)?.connection;
    if (connection) return ssoResult(connection, true);
    const url = `/users/${encodeURIComponent(parentUserId(ctx, 'choose_plan_features'))}/sso`;
    return ssoResult((await http.request<SsoRecord>({ method: 'GET', url })).data, true);
  },
});

/**
 * Marks the user active; needs the results of the four earlier steps that every plan runs, and
 * waits for provision_sso when the decision chose it (a deferred join: a skipped provision_sso
 * does not hold it back).
 */
export const updateUserStatus = defineApiStepHandler<RegistrationContext, StatusResult>({
  name: 'update_user_status',
  dependentSystem: 'user_service',
  baseUrlEnv: 'USER_SERVICE_URL',
  async call(ctx, http) {
    const earlier = [
      'create_user_account',
      'setup_billing_profile',
      'initialize_preferences',
      'send_welcome_sequence',
    ];
    const userId = earlier.map((parent) => parentUserId(ctx, parent))[0]!;
    const url = `/users/${encodeURIComponent(userId)}/status`;
    const response = await http.request<UserRecord>({ method: 'PATCH', url, data: { status: 'active' } });
    return { user_id: response.data.id, status: response.data.status };
  },
});

/** All seven, for a worker's handler list. */
export const userRegistrationHandlers: readonly StepHandler<RegistrationContext>[] = [
  createUserAccount,
  setupBillingProfile,
  initializePreferences,
  sendWelcomeSequence,
  choosePlanFeatures,
  provisionSso,
  updateUserStatus,
];

/**
 * The fields create_user_account needs. The template's schema checks them at task creation;
 * this guards tasks created by an older template version, and fails them for good.
 */
function registrationInput(ctx: Ctx): RegistrationContext {
  const context = (ctx.task.context ?? {}) as Partial<RegistrationContext>;
  const missing = (['email', 'name', 'plan'] as const).filter(
    (field) => typeof context[field] !== 'string' || !context[field]?.trim(),
  );
  if (missing.length > 0) {
    throw new PermanentError(`task context is missing ${missing.join(', ')}`, {
      errorCode: 'invalid_context',
    });
  }
  return context as RegistrationContext;
}

/** `user_id` from a parent's result; its absence is a wiring bug, which retrying cannot fix. */
function parentUserId(ctx: Ctx, parent: string): string {
  const userId = (ctx.parents[parent] as { user_id?: unknown } | undefined)?.user_id;
  if (typeof userId !== 'string' || !userId) {
    throw new PermanentError(`parent ${parent} returned no user_id`, { errorCode: 'missing_parent_result' });
  }
  return userId;
}

function createdUser(user: UserRecord, existing: boolean): CreatedUser {
  const outcome = existing ? 'already_exists' : 'created';
  return { user_id: user.id, email: user.email, plan: user.plan, status: user.status, outcome, existing };
}

function billingResult(profile: ProfileRecord, existing: boolean): BillingResult {
  const { user_id, id: profile_id, plan } = profile;
  return { status: 'created', skipped: false, user_id, profile_id, plan, existing };
}

function ssoResult(record: SsoRecord, existing: boolean): SsoResult {
  return { user_id: record.user_id, connection_id: record.id, domain: record.domain, existing };
}

function preferencesResult(record: PreferencesRecord, existing: boolean): PreferencesResult {
  return { user_id: record.user_id, settings: record.settings, existing };
}
