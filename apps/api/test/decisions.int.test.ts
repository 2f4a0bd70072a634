import { createSwitchyardClient } from '@switchyard/client';
import { decide, defineTemplate } from '@switchyard/core';
import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
});
afterAll(() => h.close());

const template = defineTemplate({
  namespace: 'decisions',
  name: 'onboarding',
  version: '1.0.0',
  default_dependent_system: 'svc',
  steps: [
    { name: 'route', handler: 'dx_route', type: 'decision', decides: ['sso', 'guide'] },
    { name: 'sso', handler: 'dx_work', depends_on: ['route'] },
    { name: 'guide', handler: 'dx_work', depends_on: ['route'] },
    { name: 'activate', handler: 'dx_work', depends_on: ['sso', 'guide'], convergence: 'deferred' },
  ],
});

async function waitForStatus(id: string, status: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body } = await h.call('GET', `/v1/tasks/${id}`);
    if (body.status === status) return body;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${body.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type WireStep = { name: string; status: string; type?: string | null; results: unknown };
const byName = (task: { steps: WireStep[] }) => Object.fromEntries(task.steps.map((s) => [s.name, s]));

describe('decision steps over HTTP', () => {
  it('shows skipped steps and the decision, and resolves a failed decision only with a chosen set', async () => {
    await h.register([template]);
    // The decision names a step it does not declare: its attempt fails for good.
    await h.startWorker([
      defineStepHandler('dx_route', () => decide(['ssso'])),
      defineStepHandler('dx_work', (ctx) => ({ ran: ctx.step.name })),
    ]);
    const created = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'decisions', name: 'onboarding', context: {} },
    });
    const id = created.body.task.id as string;
    const failed = await waitForStatus(id, 'error');
    expect(byName(failed).route).toMatchObject({
      status: 'error',
      type: 'decision',
      decides: ['sso', 'guide'],
      lastError: { code: 'decision_invalid' },
    });

    const before = await h.rowCounts();
    const refused = await h.call('POST', `/v1/tasks/${id}/steps/route/resolve`, { body: { reason: 'typo' } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ path: '/chosen', rule: 'required' })]);
    const undeclared = await h.call('POST', `/v1/tasks/${id}/steps/route/resolve`, {
      body: { chosen: ['ssso'] },
    });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.errors[0].message).toBe(
      'the decision chose "ssso", not declared under decides (declared: sso, guide)',
    );
    expect(await h.rowCounts()).toEqual(before);

    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
    const resolved = await client.resolveStep(id, 'route', { chosen: ['guide'], reason: 'typo' });
    expect(byName(resolved).sso!.status).toBe('skipped');
    const task = await waitForStatus(id, 'complete');
    const steps = byName(task);
    expect(steps.route).toMatchObject({ status: 'resolved_manually', results: { activate: ['guide'] } });
    expect(steps.sso).toMatchObject({ status: 'skipped', results: null });
    expect(steps.guide).toMatchObject({ status: 'complete', results: { ran: 'guide' } });
    expect(steps.activate).toMatchObject({ status: 'complete', convergence: 'deferred' });
  });
});
