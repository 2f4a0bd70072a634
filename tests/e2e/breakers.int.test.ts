import { forceBreaker } from '@switchyard/db';
import { afterEach, describe, expect, it } from 'vitest';
import { type BreakerFleet, startBreakerFleet, TEST_POLICY } from './breaker-harness.ts';
import { sleep } from './harness.ts';

let fleet: BreakerFleet | null = null;
afterEach(async () => {
  await fleet?.close();
  fleet = null;
});

async function transitions(f: BreakerFleet, system: string) {
  const { rows } = await f.pool.query(
    `SELECT from_state, to_state, reason, evidence, created_at FROM breaker_transitions WHERE dependent_system = $1 ORDER BY id`,
    [system],
  );
  return rows as {
    from_state: string;
    to_state: string;
    reason: string;
    evidence: Record<string, unknown>;
    created_at: Date;
  }[];
}

async function heldCount(f: BreakerFleet, system: string): Promise<number> {
  return (await f.breaker(system)).heldSteps;
}

describe('circuit breakers over a real HTTP service', () => {
  it('outage: 47 tasks park without hammering the service, and all complete once it recovers', async () => {
    fleet = await startBreakerFleet(['billing'], { concurrency: 1 });
    const billing = fleet.services.billing!;
    billing.set({ kind: 'down' });
    const downAt = Date.now();
    const ids = await fleet.create('billing', 47);
    await fleet.waitUntil(
      'the breaker to open',
      async () => (await fleet!.breaker('billing')).state === 'open',
    );
    await sleep(3_500); // several probe cycles into the outage
    const callsWhileDown = billing.callsSince(downAt);
    const halfOpens = (await transitions(fleet, 'billing')).filter((t) => t.to_state === 'half_open').length;
    const duringOutage = await fleet.statuses(ids);

    billing.set({ kind: 'up' });
    const upAt = Date.now();
    await fleet.waitUntil(
      'all 47 tasks to complete',
      async () => (await fleet!.statuses(ids)).complete === 47,
      15_000,
    );
    const recoveryMs = Date.now() - upAt;
    console.info(
      `[measure] outage: ${callsWhileDown} calls reached the down service (trip threshold 3, ${halfOpens} half-open probes); all 47 complete ${recoveryMs} ms after it came back`,
    );

    expect(callsWhileDown).toBeLessThanOrEqual(TEST_POLICY.consecutive_failures! + halfOpens);
    expect(duringOutage.error ?? 0).toBe(0);
    // Recovery is bounded by the breaker's own cycle, not by luck: once the service is back, at
    // most one probe that was already failing reopens it, and it ends closed.
    const afterRecovery = (await transitions(fleet, 'billing')).filter((t) => t.created_at.getTime() >= upAt);
    expect(afterRecovery.filter((t) => t.to_state === 'open').length).toBeLessThanOrEqual(1);
    expect(afterRecovery.at(-1)?.to_state).toBe('closed');
    const trip = (await transitions(fleet, 'billing'))[0]!;
    expect(trip).toMatchObject({
      from_state: 'closed',
      to_state: 'open',
      reason: '3 consecutive failures (threshold 3)',
    });
    expect(trip.evidence).toMatchObject({ consecutiveFailures: 3, attempts: expect.any(Array) });
    expect((trip.evidence.attempts as number[]).length).toBe(3);
  });

  it('stays open with the same next probe time across a restart of every worker and scheduler', async () => {
    fleet = await startBreakerFleet(['billing'], { concurrency: 1, policy: { open_ms: 4_000 } });
    const billing = fleet.services.billing!;
    billing.set({ kind: 'down' });
    const ids = await fleet.create('billing', 6);
    await fleet.waitUntil(
      'the breaker to open',
      async () => (await fleet!.breaker('billing')).state === 'open',
    );
    const before = await fleet.breaker('billing');

    await fleet.restart();
    const after = await fleet.breaker('billing');
    const callsAtRestart = billing.calls.length;
    await sleep(1_000);

    expect(after).toMatchObject({
      state: 'open',
      tripCount: before.tripCount,
      nextProbeAt: before.nextProbeAt,
      since: before.since,
    });
    expect(billing.calls.length).toBe(callsAtRestart);
    billing.set({ kind: 'up' });
    await fleet.waitUntil(
      'all tasks to complete',
      async () => (await fleet!.statuses(ids)).complete === 6,
      15_000,
    );
  });

  it('half-open: a failed probe reopens for longer, probes stay within the limit, successes close and the release ramps', async () => {
    fleet = await startBreakerFleet(['billing'], {
      concurrency: 1,
      schedulerIntervalMs: 600_000,
      policy: { half_open_max_probes: 2 },
    });
    const billing = fleet.services.billing!;
    billing.set({ kind: 'down' });
    await fleet.create('billing', 12);
    await fleet.waitUntil('every step to be held', async () => (await heldCount(fleet!, 'billing')) === 12);
    const opened = await fleet.breaker('billing');
    // next_probe_at is set from the deciding process's clock, since from the database's: allow a few ms.
    expect(opened.nextProbeAt!.getTime() - opened.since.getTime()).toBeCloseTo(1_000, -2);

    await sleep(opened.nextProbeAt!.getTime() - Date.now() + 20);
    await fleet.scheduler.sweep();
    expect((await fleet.breaker('billing')).probesInFlight).toBeLessThanOrEqual(2);
    const reopened = await fleet.waitUntil('the probe to fail', async () => {
      const b = await fleet!.breaker('billing');
      return b.state === 'open' && b.tripCount === 2 && b;
    });
    expect(reopened.nextProbeAt!.getTime() - reopened.since.getTime()).toBeCloseTo(2_000, -2);
    await fleet.waitUntil(
      'failed probes to be held again',
      async () => (await heldCount(fleet!, 'billing')) === 12,
    );

    billing.set({ kind: 'up' });
    await sleep(reopened.nextProbeAt!.getTime() - Date.now() + 20);
    await fleet.scheduler.sweep();
    const probing = await fleet.breaker('billing');
    expect(probing.probesInFlight).toBeLessThanOrEqual(2);
    expect(await heldCount(fleet, 'billing')).toBe(10);
    await fleet.waitUntil(
      'two probe successes to close the breaker',
      async () => (await fleet!.breaker('billing')).state === 'closed',
    );

    await fleet.scheduler.sweep();
    expect(await heldCount(fleet, 'billing')).toBe(5); // first ramp step: release_initial = 5
    await fleet.scheduler.sweep();
    expect(await heldCount(fleet, 'billing')).toBe(0); // then 10
    const path = (await transitions(fleet, 'billing')).map((t) => t.to_state);
    expect(path).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
  });

  it('isolation: one service down does not hold back the steps of another', async () => {
    fleet = await startBreakerFleet(['billing', 'preferences'], { concurrency: 2 });
    fleet.services.billing!.set({ kind: 'down' });
    const billingIds = await fleet.create('billing', 10);
    await fleet.waitUntil(
      'the billing breaker to open',
      async () => (await fleet!.breaker('billing')).state === 'open',
    );
    const prefIds = await fleet.create('preferences', 10);

    await fleet.waitUntil(
      'preferences tasks to complete',
      async () => (await fleet!.statuses(prefIds)).complete === 10,
      10_000,
    );
    expect((await fleet.breaker('billing')).state).not.toBe('closed');
    expect((await fleet.statuses(billingIds)).complete ?? 0).toBe(0);
    expect((await fleet.breaker('preferences')).state).toBe('closed');
  });

  it('a Retry-After from one call holds every pending step of that service until then', async () => {
    fleet = await startBreakerFleet(['notification'], { concurrency: 1 });
    const service = fleet.services.notification!;
    service.set({ kind: 'status', status: 429, retryAfter: '2', times: 1 });
    const ids = await fleet.create('notification', 6);
    await fleet.waitUntil(
      'all tasks to complete',
      async () => (await fleet!.statuses(ids)).complete === 6,
      15_000,
    );

    const [limited, ...rest] = service.calls;
    expect(limited!.mode).toBe('status');
    expect(rest).toHaveLength(6);
    // Nobody called the service during the 2 s it asked for.
    expect(Math.min(...rest.map((call) => call.at)) - limited!.at).toBeGreaterThanOrEqual(2_000);
    expect((await fleet.breaker('notification')).state).toBe('closed');
  });

  it('a permanent 4xx never trips the breaker', async () => {
    fleet = await startBreakerFleet(['users'], { concurrency: 2 });
    fleet.services.users!.set({ kind: 'status', status: 422 });
    const ids = await fleet.create('users', 8);
    await fleet.waitUntil('all tasks to fail', async () => (await fleet!.statuses(ids)).error === 8);

    expect(fleet.services.users!.calls).toHaveLength(8);
    expect(await transitions(fleet, 'users')).toEqual([]);
    expect(await fleet.breaker('users')).toMatchObject({
      state: 'closed',
      recent: { calls: 0, failures: 0 },
    });
  });

  it('fallback steps complete degraded while the breaker is open and normally once it closes', async () => {
    fleet = await startBreakerFleet(['preferences'], { concurrency: 2 });
    const service = fleet.services.preferences!;
    await forceBreaker(fleet.pool, {
      dependentSystem: 'preferences',
      action: 'open',
      actor: 'test',
      reason: 'maintenance',
    });
    const [degraded] = await fleet.create('preferences', 1, true);
    const [waiting] = await fleet.create('preferences', 1, false);
    await fleet.waitUntil(
      'the fallback task to complete',
      async () => (await fleet!.statuses([degraded!])).complete === 1,
    );
    await fleet.waitUntil(
      'the waiting task to be held',
      async () => (await heldCount(fleet!, 'preferences')) === 1,
    );
    expect(service.calls).toHaveLength(0);

    await forceBreaker(fleet.pool, {
      dependentSystem: 'preferences',
      action: 'reset',
      actor: 'test',
      reason: 'done',
    });
    const [normal] = await fleet.create('preferences', 1, true);
    await fleet.waitUntil(
      'both to complete',
      async () => (await fleet!.statuses([waiting!, normal!])).complete === 2,
    );

    const results = async (id: string) =>
      (await fleet!.pool.query('SELECT results FROM workflow_steps WHERE task_id = $1', [id])).rows[0]
        .results;
    expect(await results(degraded!)).toEqual({ plan_defaults: true, fallback_used: true });
    expect(await results(normal!)).toEqual({ ok: true });
    expect(service.calls).toHaveLength(2);
    const audit = await transitions(fleet, 'preferences');
    expect(audit.map((t) => [t.to_state, t.reason])).toEqual([
      ['open', 'open by operator: maintenance'],
      ['closed', 'reset by operator: done'],
    ]);
  });
});
