import { createSwitchyardClient } from '@switchyard/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
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
