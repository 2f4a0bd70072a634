import { ValidationError } from '@switchyard/core';
import { forceBreaker } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistrationFleet, startRegistrationFleet } from './registration-harness.ts';

let fleet: RegistrationFleet;
beforeAll(async () => {
  fleet = await startRegistrationFleet();
});
afterAll(() => fleet.close());

const endpoints = (kind: 'user' | 'billing' | 'preferences' | 'notification') =>
  fleet.services[kind].admin.counters().endpoints;

const STEPS = [
  'create_user_account',
  'setup_billing_profile',
  'initialize_preferences',
  'send_welcome_sequence',
  'choose_plan_features',
  'provision_sso',
  'update_user_status',
];
const allComplete = Object.fromEntries(STEPS.map((name) => [name, 'complete']));
const statuses = (steps: Record<string, { status: string }>) =>
  Object.fromEntries(Object.entries(steps).map(([name, step]) => [name, step.status]));

describe('user registration over the four services', () => {
  it('registers pro, enterprise and free users, skipping billing for free and provisioning SSO for enterprise only', async () => {
    const pro = await fleet.register({
      email: 'pro@example.com',
      name: 'Pro',
      plan: 'pro',
      payment_method: 'pm_1',
    });
    const ent = await fleet.register({
      email: 'ent@example.com',
      name: 'Ent',
      plan: 'enterprise',
      payment_method: 'pm_2',
      preferences: { email_digest: 'never' },
    });
    const free = await fleet.register({ email: 'free@example.com', name: 'Free' }); // plan defaults to free
    const settled = await fleet.waitForSettled([pro.task.id, ent.task.id, free.task.id]);

    expect(Object.values(settled)).toEqual(['complete', 'complete', 'complete']);
    expect(free.task.context).toMatchObject({ plan: 'free' });
    const freeSteps = await fleet.steps(free.task.id);
    expect(freeSteps.setup_billing_profile!.results).toMatchObject({ status: 'skipped_free_plan' });
    // The decision chose nothing for free: provision_sso never ran, and the deferred join did.
    expect(statuses(freeSteps)).toEqual({ ...allComplete, provision_sso: 'skipped' });
    expect(freeSteps.choose_plan_features!.results).toMatchObject({ activate: [] });
    expect(freeSteps.update_user_status!.results).toMatchObject({ status: 'active' });
    const proSteps = await fleet.steps(pro.task.id);
    expect(proSteps.create_user_account!.results).toMatchObject({ outcome: 'created' });
    expect(proSteps.update_user_status!.results).toMatchObject({ status: 'active' });
    expect(proSteps.provision_sso!.status).toBe('skipped');
    expect(endpoints('billing')['POST /billing/profiles']).toMatchObject({ sideEffects: 2 });
    const entSteps = await fleet.steps(ent.task.id);
    expect(statuses(entSteps)).toEqual(allComplete);
    expect(entSteps.choose_plan_features!.results).toMatchObject({ activate: ['provision_sso'] });
    expect(entSteps.provision_sso!.results).toMatchObject({
      user_id: entSteps.create_user_account!.results!.user_id,
      domain: 'example.com',
      existing: false,
    });
    // One SSO connection, the enterprise user's, made before the user was marked active.
    expect(endpoints('user')['POST /users/:id/sso']).toMatchObject({ sideEffects: 1 });
    const { rows: order } = await fleet.pool.query(
      `SELECT sso.completed_at <= status.started_at AS waited FROM workflow_steps sso, workflow_steps status
        WHERE sso.task_id = $1 AND sso.name = 'provision_sso' AND status.task_id = $1 AND status.name = 'update_user_status'`,
      [ent.task.id],
    );
    expect(order).toEqual([{ waited: true }]);
    // Plan defaults merged with the user's own choice.
    expect(entSteps.initialize_preferences!.results).toMatchObject({
      settings: { theme: 'dark', email_digest: 'never', max_projects: 1_000 },
    });
  });

  it('rejects an invalid email at creation, naming the field, and creates nothing', async () => {
    const error = await fleet.register({ email: 'not-an-email', name: 'X' }).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.issues).toEqual([expect.objectContaining({ path: '/email', rule: 'format' })]);
  });

  it('completes an existing user with the same data as already_exists', async () => {
    const first = await fleet.register({ email: 'again@example.com', name: 'Again', plan: 'free' });
    await fleet.waitForSettled([first.task.id]);
    // Same person, another context (a tag differs), so a new task under strict identity.
    const second = await fleet.register({
      email: 'again@example.com',
      name: 'Again',
      plan: 'free',
      payment_method: 'pm_9',
    });
    expect(second.duplicate).toBe(false);
    const settled = await fleet.waitForSettled([second.task.id]);

    expect(settled[second.task.id]).toBe('complete');
    expect((await fleet.steps(second.task.id)).create_user_account!.results).toMatchObject({
      outcome: 'already_exists',
    });
  });

  it('fails with USER_CONFLICT for the same email with another plan, and calls no later service', async () => {
    const first = await fleet.register({ email: 'clash@example.com', name: 'Clash', plan: 'free' });
    await fleet.waitForSettled([first.task.id]);
    const clash = await fleet.register({
      email: 'clash@example.com',
      name: 'Clash',
      plan: 'pro',
      payment_method: 'pm_3',
    });
    const settled = await fleet.waitForSettled([clash.task.id]);

    expect(settled[clash.task.id]).toBe('error');
    const steps = await fleet.steps(clash.task.id);
    expect(steps.create_user_account).toMatchObject({
      status: 'error',
      last_error: { code: 'USER_CONFLICT' },
    });
    expect(
      Object.entries(steps)
        .filter(([, s]) => s.status !== 'pending')
        .map(([name]) => name),
    ).toEqual(['create_user_account']);
    for (const kind of ['billing', 'preferences', 'notification'] as const) {
      expect(fleet.services[kind].admin.counters().correlationIds).not.toContain(clash.task.correlationId);
    }
  });

  it('delays the welcome step by at least the Retry-After of a 429', async () => {
    fleet.services.notification.admin.setFaults({ sequence: [429], retryAfter: 2 });
    const { task } = await fleet.register({ email: 'limited@example.com', name: 'Limited' });
    await fleet.waitForSettled([task.id]);
    const { rows } = await fleet.pool.query(
      `SELECT a.attempt, a.outcome, a.http_status, a.started_at, a.finished_at FROM step_attempts a
         JOIN workflow_steps s ON s.id = a.step_id WHERE s.task_id = $1 AND s.name = 'send_welcome_sequence' ORDER BY a.attempt`,
      [task.id],
    );
    expect(rows.map((r) => [r.attempt, r.outcome, r.http_status])).toEqual([
      [1, 'retryable_error', 429],
      [2, 'success', null],
    ]);
    expect(rows[1].started_at.getTime() - rows[0].finished_at.getTime()).toBeGreaterThanOrEqual(2_000);
  });

  it('carries the task correlation id to all four services', async () => {
    const { task } = await fleet.register({
      email: 'traced@example.com',
      name: 'Traced',
      plan: 'pro',
      payment_method: 'pm_4',
    });
    await fleet.waitForSettled([task.id]);
    for (const kind of ['user', 'billing', 'preferences', 'notification'] as const) {
      expect(fleet.services[kind].admin.counters().correlationIds).toContain(task.correlationId);
    }
  });

  it('completes preferences with the plan defaults and the user choices while its breaker is open', async () => {
    await forceBreaker(fleet.pool, {
      dependentSystem: 'preferences_service',
      action: 'open',
      actor: 'test',
      reason: 'maintenance',
    });
    const calls = fleet.services.preferences.admin.counters().endpoints['POST /preferences']?.calls ?? 0;
    try {
      const { task } = await fleet.register({
        email: 'degraded@example.com',
        name: 'Degraded',
        plan: 'pro',
        payment_method: 'pm_5',
        preferences: { theme: 'dark' },
      });
      expect((await fleet.waitForSettled([task.id]))[task.id]).toBe('complete');
      expect((await fleet.steps(task.id)).initialize_preferences!.results).toMatchObject({
        fallback_used: true,
        settings: { theme: 'dark', email_digest: 'daily', max_projects: 50 },
      });
      expect(fleet.services.preferences.admin.counters().endpoints['POST /preferences']?.calls ?? 0).toBe(
        calls,
      );
    } finally {
      await forceBreaker(fleet.pool, {
        dependentSystem: 'preferences_service',
        action: 'reset',
        actor: 'test',
        reason: 'done',
      });
    }
  });
});
