import { createSwitchyardClient } from '@switchyard/client';
import { decideAdaptiveLimit } from '@switchyard/core';
import {
  configureServiceLimits,
  lockAdaptiveLimitsDue,
  recordAdaptiveDecision,
  withTransaction,
} from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
  await h.register([
    apiTemplate({
      default_dependent_system: 'user_service',
      steps: [
        { name: 'create', handler: 'limits_create' },
        { name: 'bill', handler: 'limits_bill', depends_on: ['create'], dependent_system: 'billing_service' },
      ],
    }),
  ]);
  await configureServiceLimits(
    h.pool,
    { billing_service: { maxConcurrent: 2, rate: null, burst: null } },
    'test',
  );
});
afterAll(() => h.close());

const limitCount = async () =>
  (await h.pool.query('SELECT count(*)::int AS n FROM service_limits')).rows[0].n;

describe('limits over HTTP', () => {
  it('lists the configured limit with its usage, and reports it on /metrics', async () => {
    const { status, body } = await h.call('GET', '/v1/limits');
    expect(status).toBe(200);
    expect(body.limits).toEqual([
      expect.objectContaining({
        dependentSystem: 'billing_service',
        limit: { maxConcurrent: 2, rate: null, burst: null },
        configured: { maxConcurrent: 2, rate: null, burst: null },
        override: null,
        inFlight: 0,
        waiting: { concurrency: 0, rate: 0 },
      }),
    ]);
    const metrics = await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${h.adminKey}` } });
    const text = await metrics.text();
    expect(text).toContain('switchyard_limit_in_flight{system="billing_service"} 0');
    expect(text).toContain('switchyard_limit_waiting{system="billing_service"} 0');
    expect(text).toContain('switchyard_limit_max_concurrent{system="billing_service"} 2');
  });

  it('overrides a limit and resets it, each change audited with the key and the reason', async () => {
    const key = await h.key(['operate', 'tasks:read']);
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: key });
    const overridden = await client.overrideLimit('billing_service', {
      maxConcurrent: 5,
      rate: 2,
      reason: 'billing asked for more',
    });
    expect(overridden.limit).toEqual({ maxConcurrent: 5, rate: 2, burst: 2 });
    expect(overridden.override).toMatchObject({
      reason: 'billing asked for more',
      actor: expect.stringMatching(/^key:/),
    });

    const reset = await client.resetLimit('billing_service', 'back to the configuration');
    expect(reset.limit).toEqual({ maxConcurrent: 2, rate: null, burst: null });
    expect(reset.override).toBeNull();

    const { changes } = await client.getLimit('billing_service');
    expect(changes.map((c) => [c.source, c.limit.maxConcurrent, c.reason])).toEqual([
      ['operator', 2, 'override removed by operator: back to the configuration'],
      ['operator', 5, 'override by operator: billing asked for more'],
      ['config', 2, 'configured'],
    ]);
    expect(changes[0]!.actor).toMatch(/^key:/);
  });

  it('refuses a bad override naming the field, an unknown system with 404, a restricted key with 403: nothing changes', async () => {
    const before = await limitCount();
    const zero = await h.call('POST', '/v1/limits/billing_service/override', {
      body: { maxConcurrent: 0, reason: 'x' },
    });
    expect(zero.status).toBe(400);
    expect(JSON.stringify(zero.body)).toContain('/maxConcurrent');
    const burst = await h.call('POST', '/v1/limits/billing_service/override', {
      body: { burst: 3, reason: 'x' },
    });
    expect(burst.status).toBe(400);
    expect(JSON.stringify(burst.body)).toContain('burst needs a rate');
    const typo = await h.call('POST', '/v1/limits/biling_service/override', {
      body: { maxConcurrent: 1, reason: 'typo' },
    });
    expect(typo.status).toBe(404);
    const restricted = await h.key(['operate', 'tasks:read'], ['registration']);
    const denied = await h.call('POST', '/v1/limits/billing_service/override', {
      body: { maxConcurrent: 1, reason: 'not mine' },
      key: restricted,
    });
    expect(denied.status).toBe(403);
    expect(await limitCount()).toBe(before);
    expect((await h.call('GET', '/v1/limits/biling_service')).status).toBe(404);
  });

  it('shows an adaptive limit: its limiter, each change with its evidence, its baseline on /metrics; an override pauses it and a restart keeps its limit', async () => {
    const configure = (max: number) =>
      configureServiceLimits(
        h.pool,
        {
          billing_service: { maxConcurrent: 2, rate: null, burst: null },
          user_service: { maxConcurrent: 8, rate: null, burst: null, adaptive: { min: 2, max } },
        },
        'test',
      );
    await configure(8);
    // One judgement, as the scheduler makes it: a window ten times slower than the baseline.
    await withTransaction(h.pool, async (client) => {
      const [due] = await lockAdaptiveLimitsDue(client, { everyMs: 1000 });
      expect(due).toMatchObject({ dependentSystem: 'user_service', limit: 8, baselineMs: null });
      const decision = decideAdaptiveLimit(
        { ...due!, baselineMs: 40 },
        { windowMs: 10_000, calls: 12, timeouts: 0, overloadErrors: 0, p50Ms: 400, p90Ms: 450 },
      );
      await recordAdaptiveDecision(client, {
        dependentSystem: 'user_service',
        decision,
        actor: 'scheduler-test',
      });
    });
    // judged: not due again within its period
    expect(await withTransaction(h.pool, (c) => lockAdaptiveLimitsDue(c, { everyMs: 60_000 }))).toEqual([]);

    const key = await h.key(['operate', 'tasks:read']);
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: key });
    const detail = await client.getLimit('user_service');
    expect(detail.limit.limit.maxConcurrent).toBe(4);
    expect(detail.limit.adaptive).toEqual({ min: 2, max: 8, limit: 4, baselineLatencyMs: 40, paused: false });
    expect(detail.changes[0]).toMatchObject({
      source: 'adaptive',
      actor: 'scheduler-test',
      limit: { maxConcurrent: 4 },
      reason: 'p50 400 ms is 10.0× the baseline 40 ms: 8 → 4',
      evidence: { calls: 12, p50Ms: 400, baselineMs: 40, from: 8, to: 4 },
    });
    const metrics = await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${h.adminKey}` } });
    const text = await metrics.text();
    expect(text).toContain('switchyard_limit_max_concurrent{system="user_service"} 4');
    expect(text).toContain('switchyard_limit_baseline_latency_ms{system="user_service"} 40');

    // An override pauses the limiter: the system is not due, whatever its period.
    const overridden = await client.overrideLimit('user_service', { maxConcurrent: 6, reason: 'incident' });
    expect(overridden.adaptive).toMatchObject({ paused: true, limit: 4 });
    expect(await withTransaction(h.pool, (c) => lockAdaptiveLimitsDue(c, { everyMs: 1 }))).toEqual([]);
    // Reset: the limiter's own limit is in force again.
    expect((await client.resetLimit('user_service', 'over')).limit.maxConcurrent).toBe(4);

    // A scheduler restart keeps the limiter's limit; narrower bounds bring it inside them.
    await configure(8);
    expect((await client.getLimit('user_service')).limit.limit.maxConcurrent).toBe(4);
    await configure(3);
    expect((await client.getLimit('user_service')).limit.limit.maxConcurrent).toBe(3);
  });
});
