import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, run, stepCtx } from '../test/step-context.ts';
import { choosePlanFeatures, createUserAccount, provisionSso, type RegistrationContext } from './handlers.ts';
import { type AllServices, SERVICE_KINDS, startAllServices } from './services/index.ts';

let services: AllServices;

beforeAll(async () => {
  services = await startAllServices({ basePort: 0 });
});
afterEach(async () => {
  await Promise.all(SERVICE_KINDS.map((kind) => services[kind].admin.reset()));
});
afterAll(async () => {
  await services.close();
});

async function call(url: string, method: string, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const enterprise: RegistrationContext = {
  email: 'ada@acme.example',
  name: 'Ada',
  plan: 'enterprise',
  payment_method: 'pm_1',
};

/** A user created through create_user_account, as the decision's parent result. */
async function createdUser(context: RegistrationContext, taskId = 'task-1') {
  return run(createUserAccount, stepCtx('create_user_account', services.user.url, context, {}, taskId));
}

describe('the user service: SSO connections', () => {
  it('provisions one connection per enterprise user: 201, 409 with it on a repeat, GET by user', async () => {
    const users = `${services.user.url}/users`;
    const user = (await call(users, 'POST', { email: 'ent@acme.example', name: 'E', plan: 'enterprise' }))
      .body;
    const sso = `${users}/${user.id}/sso`;
    const created = await call(sso, 'POST', { domain: 'Acme.example' });
    expect(created).toMatchObject({
      status: 201,
      body: { user_id: user.id, domain: 'acme.example', protocol: 'saml', status: 'active' },
    });
    expect(await call(sso, 'POST', { domain: 'acme.example' })).toMatchObject({
      status: 409,
      body: { connection: created.body },
    });
    expect(await call(sso, 'GET')).toEqual({ status: 200, body: created.body });
    expect(services.user.admin.counters().endpoints['POST /users/:id/sso']?.sideEffects).toBe(1);
  });

  it('refuses another plan (422 at plan), an unknown user (404) and a bad domain (422 at domain)', async () => {
    const users = `${services.user.url}/users`;
    const pro = (await call(users, 'POST', { email: 'pro@acme.example', name: 'P', plan: 'pro' })).body;
    expect(await call(`${users}/${pro.id}/sso`, 'POST', { domain: 'acme.example' })).toMatchObject({
      status: 422,
      body: { field: 'plan' },
    });
    expect((await call(`${users}/nobody/sso`, 'POST', { domain: 'acme.example' })).status).toBe(404);
    expect((await call(`${users}/nobody/sso`, 'GET')).status).toBe(404);
    expect(await call(`${users}/${pro.id}/sso`, 'POST', { domain: 'not a domain' })).toMatchObject({
      status: 422,
      body: { field: 'domain' },
    });
    expect(services.user.admin.counters().endpoints['POST /users/:id/sso']?.sideEffects).toBe(0);
  });
});

describe('the plan decision and provision_sso', () => {
  it('chooses provision_sso for enterprise only, passing the user id on', async () => {
    for (const plan of ['free', 'pro', 'enterprise'] as const) {
      const context = { ...enterprise, email: `${plan}@acme.example`, plan };
      const user = await createdUser(context, `task-${plan}`);
      const parents = { create_user_account: user };
      const decision = await run(
        choosePlanFeatures,
        stepCtx('choose_plan_features', services.user.url, context, parents, `task-${plan}`),
      );
      expect(decision).toEqual({
        activate: plan === 'enterprise' ? ['provision_sso'] : [],
        user_id: user.user_id,
        plan,
      });
    }
  });

  it('provisions SSO for the email domain; a retried attempt replays, another task gets the existing connection', async () => {
    const user = await createdUser(enterprise);
    const parents = { choose_plan_features: { activate: ['provision_sso'], user_id: user.user_id } };
    const ctx = (taskId: string) => stepCtx('provision_sso', services.user.url, enterprise, parents, taskId);
    const first = await run(provisionSso, ctx('task-1'));
    expect(first).toEqual({
      user_id: user.user_id,
      connection_id: expect.any(String),
      domain: 'acme.example',
      existing: false,
    });
    expect(await run(provisionSso, ctx('task-1'))).toEqual(first);
    expect(await run(provisionSso, ctx('task-2'))).toEqual({ ...first, existing: true });
    expect(services.user.admin.counters().endpoints['POST /users/:id/sso']).toMatchObject({
      sideEffects: 1,
      replays: 1,
    });
  });

  it('fails provision_sso for good when the user service refuses the plan', async () => {
    const pro = { ...enterprise, email: 'pro@acme.example', plan: 'pro' as const };
    const user = await createdUser(pro);
    const parents = { choose_plan_features: { activate: ['provision_sso'], user_id: user.user_id } };
    const error = await failureOf(
      run(provisionSso, stepCtx('provision_sso', services.user.url, pro, parents)),
    );
    expect(error).toMatchObject({ name: 'PermanentError', httpStatus: 422 });
  });
});
