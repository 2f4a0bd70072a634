import { PermanentError, RetryableError } from '@switchyard/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, run, stepCtx } from '../test/step-context.ts';
import {
  createUserAccount,
  initializePreferences,
  type RegistrationContext,
  sendWelcomeSequence,
  setupBillingProfile,
  updateUserStatus,
} from './handlers.ts';
import { type AllServices, SERVICE_KINDS, startAllServices } from './services/index.ts';

let services: AllServices;

beforeAll(async () => {
  services = await startAllServices({ basePort: 0, rateLimitPerMinute: 2 });
});
afterEach(async () => {
  await Promise.all(SERVICE_KINDS.map((kind) => services[kind].admin.reset()));
});
afterAll(async () => {
  await services.close();
});

type Call = { status: number; body: Record<string, unknown>; headers: Headers };

async function call(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Call> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

const newUser = (email: string, plan = 'pro') => ({ email, name: 'Ada', plan });

describe('the services', () => {
  it('replays a repeated Idempotency-Key without a second side effect', async () => {
    const users = `${services.user.url}/users`;
    const key = { 'idempotency-key': 'task-1.create_user_account', 'x-correlation-id': 'corr-a' };
    const first = await call(users, 'POST', newUser('ada@example.com'), key);
    const second = await call(users, 'POST', newUser('ada@example.com'), key);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ email: 'ada@example.com', plan: 'pro', status: 'pending' });
    expect(second).toMatchObject({ status: 201, body: first.body });
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(services.user.admin.counters().endpoints['POST /users']).toEqual({
      calls: 2,
      sideEffects: 1,
      replays: 1,
      injected: 0,
    });
    const reused = await call(users, 'POST', newUser('other@example.com'), key);
    expect(reused.status).toBe(422);
  });

  it('answers 409 with the existing user, finds users by email and updates their status', async () => {
    const users = `${services.user.url}/users`;
    const created = await call(users, 'POST', newUser('bob@example.com'));
    const duplicate = await call(users, 'POST', newUser('BOB@example.com'));
    expect(duplicate).toMatchObject({ status: 409, body: { user: created.body } });
    expect(await call(`${users}?email=bob%40example.com`, 'GET')).toMatchObject({
      status: 200,
      body: created.body,
    });
    expect((await call(`${users}?email=nobody%40example.com`, 'GET')).status).toBe(404);
    const patched = await call(`${users}/${created.body.id}/status`, 'PATCH', { status: 'active' });
    expect(patched).toMatchObject({ status: 200, body: { status: 'active' } });
    expect((await call(`${users}/nope/status`, 'PATCH', { status: 'active' })).status).toBe(404);
    expect(await call(users, 'POST', { email: 'x', name: 'X', plan: 'pro' })).toMatchObject({
      status: 422,
      body: { field: 'email' },
    });
  });

  it('rejects bad bodies: invalid JSON 400, oversized 413, unknown route 404', async () => {
    expect((await call(`${services.user.url}/users`, 'POST', '{nope')).status).toBe(400);
    const huge = { email: 'a@b.c', name: 'x'.repeat(70_000), plan: 'pro' };
    expect((await call(`${services.user.url}/users`, 'POST', huge)).status).toBe(413);
    expect((await call(`${services.user.url}/nothing`, 'GET')).status).toBe(404);
  });

  it('billing: 402 for a paid plan without payment method, 201 with one, 409 on a repeat', async () => {
    const profiles = `${services.billing.url}/billing/profiles`;
    const unpaid = await call(profiles, 'POST', { user_id: 'u1', plan: 'pro' });
    expect(unpaid).toMatchObject({ status: 402, body: { code: 'payment_required' } });
    const created = await call(profiles, 'POST', { user_id: 'u1', plan: 'pro', payment_method: 'pm_card' });
    expect(created).toMatchObject({
      status: 201,
      body: { user_id: 'u1', plan: 'pro', payment_method: 'pm_card' },
    });
    const again = await call(profiles, 'POST', { user_id: 'u1', plan: 'pro', payment_method: 'pm_card' });
    expect(again).toMatchObject({ status: 409, body: { profile: created.body } });
    expect(services.billing.admin.counters().endpoints['POST /billing/profiles']?.sideEffects).toBe(1);
  });

  it('preferences: 201 with plan defaults, 409 on a repeat, GET by user', async () => {
    const url = `${services.preferences.url}/preferences`;
    const created = await call(url, 'POST', { user_id: 'u2', plan: 'enterprise' });
    expect(created).toMatchObject({
      status: 201,
      body: { user_id: 'u2', marketing_opt_in: false, settings: { theme: 'dark', max_projects: 1000 } },
    });
    expect((await call(url, 'POST', { user_id: 'u2', plan: 'free' })).status).toBe(409);
    expect(await call(`${url}/u2`, 'GET')).toMatchObject({ status: 200, body: created.body });
    expect((await call(`${url}/u3`, 'GET')).status).toBe(404);
  });

  it('notification: 202, then 429 with Retry-After past the per-user rate limit; replays do not count', async () => {
    const url = `${services.notification.url}/notifications/welcome`;
    const body = { user_id: 'u4', email: 'u4@example.com' };
    const key = { 'idempotency-key': 'k1' };
    expect((await call(url, 'POST', body, key)).status).toBe(202);
    expect((await call(url, 'POST', body, key)).status).toBe(202);
    expect((await call(url, 'POST', body)).status).toBe(202);
    const limited = await call(url, 'POST', body);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await call(url, 'POST', { ...body, user_id: 'u5' })).status).toBe(202);
  });

  it('injects a FIFO sequence of faults with Retry-After, then serves again', async () => {
    services.user.admin.setFaults({ sequence: [503, 503, 429], retryAfter: 7 });
    const users = `${services.user.url}/users`;
    const statuses: Array<[number, string | null]> = [];
    for (let i = 0; i < 4; i++) {
      const answer = await call(users, 'POST', newUser('seq@example.com'), { 'idempotency-key': 'seq' });
      statuses.push([answer.status, answer.headers.get('retry-after')]);
    }
    expect(statuses).toEqual([
      [503, '7'],
      [503, '7'],
      [429, '7'],
      [201, null],
    ]);
    expect(services.user.admin.counters().endpoints['POST /users']).toMatchObject({
      calls: 4,
      injected: 3,
      sideEffects: 1,
    });
  });

  it('injects an error rate and latency, and validates fault settings over HTTP', async () => {
    const admin = `${services.billing.url}/admin/faults`;
    expect(await call(admin, 'POST', { errorRate: 1, errorStatus: 500 })).toMatchObject({ status: 200 });
    expect((await call(`${services.billing.url}/billing/profiles/u1`, 'GET')).status).toBe(500);
    expect(await call(admin, 'POST', { errorRate: 0, latencyMs: 120 })).toMatchObject({
      body: { latencyMs: 120, errorRate: 0 },
    });
    const started = Date.now();
    expect((await call(`${services.billing.url}/billing/profiles/u1`, 'GET')).status).toBe(404);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    const bad = await call(admin, 'POST', { errorRate: 2 });
    expect(bad).toMatchObject({ status: 400, body: { error: 'errorRate must be a number in 0..1' } });
    expect(() => services.billing.admin.setFaults({ sequence: [200] })).toThrow(/sequence/);
  });

  it('slows down by a factor, works on `capacity` requests at once, and reports the peak in flight', async () => {
    const url = `${services.billing.url}/billing/profiles/u1`;
    services.billing.admin.setFaults({ latencyMs: 20, capacity: 2 });
    expect(services.billing.admin.setFaults({ slowdown: 10 })).toMatchObject({ latencyMs: 20, slowdown: 10 });
    // Five at once: two are worked on (200 ms each), three wait their turn; all five are in flight.
    const started = Date.now();
    const calls = Promise.all(Array.from({ length: 5 }, () => call(url, 'GET')));
    await waitFor(() => services.billing.admin.inFlight().now === 5);
    expect(services.billing.admin.inFlight()).toEqual({ now: 5, peak: 5, waiting: 3 });
    expect((await calls).map((answer) => answer.status)).toEqual([404, 404, 404, 404, 404]);
    console.log(`[measure] 5 calls, capacity 2, 200 ms each: ${Date.now() - started} ms`);
    expect(services.billing.admin.inFlight()).toEqual({ now: 0, peak: 5, waiting: 0 });
    services.billing.admin.resetPeakInFlight();
    expect(services.billing.admin.inFlight()).toEqual({ now: 0, peak: 0, waiting: 0 });
    expect(() => services.billing.admin.setFaults({ slowdown: 0.5 })).toThrow(
      'slowdown must be a number in 1..1000',
    );
    expect(() => services.billing.admin.setFaults({ capacity: 0 })).toThrow(/capacity must be/);
  });

  it('goes down (connections refused) and comes back up on the same port', async () => {
    const url = `${services.billing.url}/billing/profiles/u1`;
    await services.billing.admin.down();
    expect(services.billing.admin.isUp()).toBe(false);
    await expect(fetch(url)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    await services.billing.admin.up();
    expect((await call(url, 'GET')).status).toBe(404);
  });

  it('goes down over HTTP for forMs, then listens again by itself', async () => {
    const url = `${services.preferences.url}/preferences/u1`;
    expect((await call(`${services.preferences.url}/admin/down`, 'POST', { forMs: 150 })).status).toBe(202);
    await waitFor(() => !services.preferences.admin.isUp());
    // As in admin.down(): let fetch notice its pooled socket was closed (else ECONNRESET).
    await new Promise((resolve) => setTimeout(resolve, 30));
    await expect(fetch(url)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    await waitFor(() => services.preferences.admin.isUp());
    expect((await call(url, 'GET')).status).toBe(404);
  });

  it('counts calls per endpoint and records correlation ids; reset clears them', async () => {
    const url = `${services.notification.url}/notifications/welcome`;
    await call(url, 'POST', { user_id: 'u6', email: 'u6@example.com' }, { 'x-correlation-id': 'corr-1' });
    await call(url, 'POST', { user_id: 'u7', email: 'u7@example.com' }, { 'x-correlation-id': 'corr-2' });
    await call(url, 'POST', { user_id: 'u8', email: 'u8@example.com' });
    const counters = (await call(`${services.notification.url}/admin/counters`, 'GET')).body;
    expect(counters).toEqual({
      endpoints: { 'POST /notifications/welcome': { calls: 3, sideEffects: 3, replays: 0, injected: 0 } },
      correlationIds: ['corr-1', 'corr-2'],
      callsWithoutCorrelationId: 1,
    });
    await call(`${services.notification.url}/admin/reset`, 'POST');
    expect(services.notification.admin.counters()).toEqual({
      endpoints: {},
      correlationIds: [],
      callsWithoutCorrelationId: 0,
    });
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------------------------------------

const pro: RegistrationContext = {
  email: 'pro@example.com',
  name: 'Pro',
  plan: 'pro',
  payment_method: 'pm_1',
};

describe('the handlers against the services', () => {
  it('registers a pro user end to end, every call carrying the task correlation id', async () => {
    const user = await run(createUserAccount, stepCtx('create_user_account', services.user.url, pro));
    expect(user).toMatchObject({ email: 'pro@example.com', plan: 'pro', existing: false });
    const parents = { create_user_account: user };
    const billing = await run(
      setupBillingProfile,
      stepCtx('setup_billing_profile', services.billing.url, pro, parents),
    );
    const prefs = await run(
      initializePreferences,
      stepCtx('initialize_preferences', services.preferences.url, pro, parents),
    );
    expect(billing).toMatchObject({ skipped: false, user_id: user.user_id, existing: false });
    expect(prefs).toMatchObject({ user_id: user.user_id, existing: false });
    const welcomeParents = { setup_billing_profile: billing, initialize_preferences: prefs };
    const welcome = await run(
      sendWelcomeSequence,
      stepCtx('send_welcome_sequence', services.notification.url, pro, welcomeParents),
    );
    const status = await run(
      updateUserStatus,
      stepCtx('update_user_status', services.user.url, pro, {
        ...parents,
        ...welcomeParents,
        send_welcome_sequence: welcome,
      }),
    );
    expect(status).toEqual({ user_id: user.user_id, status: 'active' });
    for (const kind of SERVICE_KINDS) {
      expect(services[kind].admin.counters().correlationIds).toEqual(['corr-task-1']);
    }
  });

  it('makes create idempotent: a retried attempt replays, another task gets the existing user', async () => {
    const first = await run(createUserAccount, stepCtx('create_user_account', services.user.url, pro));
    const retried = await run(createUserAccount, stepCtx('create_user_account', services.user.url, pro));
    expect(retried).toEqual(first);
    const other = await run(
      createUserAccount,
      stepCtx('create_user_account', services.user.url, pro, {}, 'task-2'),
    );
    expect(other).toEqual({ ...first, existing: true, outcome: 'already_exists' });
    expect(services.user.admin.counters().endpoints['POST /users']).toMatchObject({
      sideEffects: 1,
      replays: 1,
    });
    const conflicting = stepCtx(
      'create_user_account',
      services.user.url,
      { ...pro, plan: 'free' },
      {},
      'task-3',
    );
    expect(await failureOf(run(createUserAccount, conflicting))).toMatchObject({
      errorCode: 'USER_CONFLICT',
    });
  });

  it('fails create for good on a context without email', async () => {
    const ctx = stepCtx('create_user_account', services.user.url, { ...pro, email: '' });
    expect(await failureOf(run(createUserAccount, ctx))).toMatchObject({ errorCode: 'invalid_context' });
  });

  it('skips billing for a free plan without calling the service', async () => {
    const free: RegistrationContext = { email: 'f@example.com', name: 'F', plan: 'free' };
    const ctx = stepCtx('setup_billing_profile', services.billing.url, free, {
      create_user_account: { user_id: 'u1' },
    });
    expect(await run(setupBillingProfile, ctx)).toEqual({
      status: 'skipped_free_plan',
      skipped: true,
      user_id: 'u1',
    });
    expect(services.billing.admin.counters().endpoints).toEqual({});
  });

  it('fails billing for good on 402, and resolves a 409 to the existing profile', async () => {
    const parents = { create_user_account: { user_id: 'u9' } };
    const unpaid = { ...pro, payment_method: undefined };
    const error = await failureOf(
      run(setupBillingProfile, stepCtx('setup_billing_profile', services.billing.url, unpaid, parents)),
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ errorCode: 'http_402', httpStatus: 402 });
    expect(error.message).toContain('payment required');
    // Another task (another idempotency key): the 402 above is kept for task-1's key.
    const created = await run(
      setupBillingProfile,
      stepCtx('setup_billing_profile', services.billing.url, pro, parents, 'task-2'),
    );
    const again = await run(
      setupBillingProfile,
      stepCtx('setup_billing_profile', services.billing.url, pro, parents, 'task-3'),
    );
    expect(again).toEqual({ ...created, existing: true });
  });

  it('retries billing while it is down (connection refused)', async () => {
    await services.billing.admin.down();
    const ctx = stepCtx('setup_billing_profile', services.billing.url, pro, {
      create_user_account: { user_id: 'u1' },
    });
    const error = await failureOf(run(setupBillingProfile, ctx));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.errorCode).toBe('connection_refused');
  });

  it('resolves a preferences 409 by fetching the existing record', async () => {
    const parents = { create_user_account: { user_id: 'u10' } };
    const first = await run(
      initializePreferences,
      stepCtx('initialize_preferences', services.preferences.url, pro, parents),
    );
    const other = await run(
      initializePreferences,
      stepCtx('initialize_preferences', services.preferences.url, pro, parents, 'task-2'),
    );
    expect(other).toEqual({ ...first, existing: true });
  });

  it('turns a welcome 429 into a RetryableError carrying Retry-After', async () => {
    const parents = {
      setup_billing_profile: { skipped: true, user_id: 'u11' },
      initialize_preferences: { user_id: 'u11' },
    };
    services.notification.admin.setFaults({ sequence: [429], retryAfter: 3 });
    const ctx = (taskId: string) =>
      stepCtx('send_welcome_sequence', services.notification.url, pro, parents, taskId);
    expect(await failureOf(run(sendWelcomeSequence, ctx('t1')))).toMatchObject({
      name: 'RetryableError',
      retryAfter: 3,
      httpStatus: 429,
    });
    // The service's own limiter (2 per minute in this file) answers the same way.
    await run(sendWelcomeSequence, ctx('t1'));
    await run(sendWelcomeSequence, ctx('t2'));
    const limited = await failureOf(run(sendWelcomeSequence, ctx('t3')));
    expect(limited).toMatchObject({ name: 'RetryableError', httpStatus: 429 });
    expect(limited.retryAfter).toBeGreaterThan(0);
  });
});
