import { createSwitchyardClient } from '@switchyard/client';
import { BREAKER_POLICY_DEFAULTS } from '@switchyard/core';
import { configureBreaker } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
  await h.register([
    apiTemplate({
      default_dependent_system: 'user_service',
      steps: [
        { name: 'create', handler: 'breakers_create' },
        {
          name: 'bill',
          handler: 'breakers_bill',
          depends_on: ['create'],
          dependent_system: 'billing_service',
        },
      ],
    }),
  ]);
});
afterAll(() => h.close());

describe('breakers over HTTP', () => {
  it('forces a breaker open, closed and back to the history, audited with the key and reason', async () => {
    const key = await h.key(['operate', 'tasks:read']);
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: key });
    const opened = await client.forceBreaker('billing_service', 'open', 'billing maintenance window');
    expect(opened).toMatchObject({ dependentSystem: 'billing_service', state: 'open', forced: 'open' });
    expect(await client.listBreakers()).toEqual([
      expect.objectContaining({ dependentSystem: 'billing_service', state: 'open' }),
    ]);
    expect(await client.forceBreaker('billing_service', 'close', 'done')).toMatchObject({
      state: 'closed',
      forced: 'closed',
    });
    expect(await client.forceBreaker('billing_service', 'reset', 'back to normal')).toMatchObject({
      state: 'closed',
      forced: null,
    });

    const { rows } = await h.pool.query(
      'SELECT to_state, actor, reason FROM breaker_transitions ORDER BY id',
    );
    expect(rows.map((row) => row.to_state)).toEqual(['open', 'closed', 'closed']);
    expect(rows[0]).toMatchObject({
      actor: expect.stringMatching(/^key:/),
      reason: expect.stringContaining('billing maintenance window'),
    });
  });

  it('answers 404 for a system no template calls and that has no breaker, and creates nothing', async () => {
    const before = await h.rowCounts();
    for (const action of ['open', 'close', 'reset']) {
      const typo = await h.call('POST', `/v1/breakers/biling_service/${action}`, {
        body: { reason: 'typo' },
      });
      expect(typo).toMatchObject({
        status: 404,
        body: { code: 'not_found', detail: expect.stringContaining('biling_service') },
      });
    }
    expect(await h.rowCounts()).toEqual(before);
    const { rows } = await h.pool.query(
      "SELECT count(*)::int AS n FROM circuit_breakers WHERE dependent_system = 'biling_service'",
    );
    expect(rows[0].n).toBe(0);
    const list = await h.call('GET', '/v1/breakers');
    expect(JSON.stringify(list.body)).not.toContain('biling_service');
    expect((await h.call('GET', '/metrics')).body).not.toContain('biling_service');
    // A system a template's step calls may be forced before it has a breaker (the default one too).
    const userService = await h.call('POST', '/v1/breakers/user_service/open', {
      body: { reason: 'maintenance' },
    });
    expect(userService).toMatchObject({
      status: 200,
      body: { dependentSystem: 'user_service', state: 'open' },
    });
    // Once a breaker row exists (e.g. from a policy or an earlier run), it stays forceable.
    await configureBreaker(h.pool, 'retired_service', BREAKER_POLICY_DEFAULTS);
    const retired = await h.call('POST', '/v1/breakers/retired_service/reset', {
      body: { reason: 'tidy up' },
    });
    expect(retired.status).toBe(200);
    await h.call('POST', '/v1/breakers/user_service/reset', { body: { reason: 'done' } });
  });

  it('requires a reason, a known action and the operate scope', async () => {
    const noReason = await h.call('POST', '/v1/breakers/billing_service/open', { body: {} });
    expect(noReason.status).toBe(400);
    expect(noReason.body.errors).toEqual([expect.objectContaining({ path: '/reason' })]);
    const badAction = await h.call('POST', '/v1/breakers/billing_service/explode', { body: { reason: 'x' } });
    expect(badAction.body.errors).toEqual([expect.objectContaining({ path: '/params/action' })]);
    const reader = await h.key(['tasks:read']);
    expect(
      (await h.call('POST', '/v1/breakers/billing_service/open', { key: reader, body: { reason: 'x' } }))
        .status,
    ).toBe(403);
  });
});
