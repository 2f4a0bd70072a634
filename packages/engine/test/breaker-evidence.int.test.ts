import { resolveBreakerPolicy } from '@switchyard/core';
import { configureBreaker, evaluateBreaker, registerTemplate } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

/** Attempts of a step of `system`, each finished `agoMs` before now. */
async function attempts(
  system: string,
  outcomes: { outcome: string; agoMs: number; called?: boolean }[],
): Promise<void> {
  const template = testTemplate({ steps: [{ name: 'call', handler: 'evidence', dependent_system: system }] });
  await registerTemplate(h.pool, template);
  const { task } = await h.create({ namespace: 'test', name: template.name, context: { system } });
  const { rows } = await h.pool.query('SELECT id FROM workflow_steps WHERE task_id = $1', [task.id]);
  for (const [i, a] of outcomes.entries()) {
    await h.pool.query(
      `INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, started_at, finished_at,
                                  duration_ms, called)
       VALUES ($1, $2, $3, $4, 'w', $5, now() - $6 * interval '1 ms', now() - $6 * interval '1 ms', 0, $7)`,
      [rows[0].id, task.id, i + 1, system, a.outcome, a.agoMs, a.called ?? true],
    );
  }
}

describe('breaker evidence', () => {
  const policy = resolveBreakerPolicy({
    min_calls: 4,
    failure_rate_threshold: 0.5,
    consecutive_failures: 100,
  });

  it('trips on the failure rate over the window', async () => {
    await configureBreaker(h.pool, 'rate_svc', policy);
    await attempts(
      'rate_svc',
      [1, 2, 3, 4].map((i) => ({ outcome: 'retryable_error', agoMs: i * 1_000 })),
    );
    const { state, transition } = await evaluateBreaker(h.pool, {
      dependentSystem: 'rate_svc',
      actor: 'test',
    });
    expect(state).toBe('open');
    expect(transition?.reason).toMatch(/failure rate 100% over 4 calls/);
  });

  it('judges a breaker that has just closed only by the calls made since', async () => {
    await configureBreaker(h.pool, 'recovered_svc', policy);
    // The outage's failures are still inside the 60 s window, but the breaker closed after them.
    await attempts('recovered_svc', [
      ...[10, 9, 8, 7].map((s) => ({ outcome: 'retryable_error', agoMs: s * 1_000 })),
      { outcome: 'success', agoMs: 6_000 },
    ]);
    await h.pool.query(
      `INSERT INTO breaker_transitions (dependent_system, from_state, to_state, reason, actor, created_at)
       VALUES ('recovered_svc', 'half_open', 'closed', '2 probe successes', 'test', now() - interval '5 seconds')`,
    );
    const { state, transition } = await evaluateBreaker(h.pool, {
      dependentSystem: 'recovered_svc',
      actor: 'test',
    });
    expect(transition).toBeNull();
    expect(state).toBe('closed');
  });

  it('does not close a half-open breaker on successes that made no call to the service', async () => {
    await configureBreaker(h.pool, 'probe_svc', resolveBreakerPolicy({ close_after_successes: 2 }));
    await h.pool.query(
      `UPDATE circuit_breakers SET state = 'half_open', since = now() - interval '10 seconds'
        WHERE dependent_system = 'probe_svc'`,
    );
    // Two answers without a call (a cache hit, a free plan): no evidence about the service.
    await attempts('probe_svc', [
      { outcome: 'success', agoMs: 2_000, called: false },
      { outcome: 'success', agoMs: 1_000, called: false },
    ]);
    expect((await evaluateBreaker(h.pool, { dependentSystem: 'probe_svc', actor: 'test' })).state).toBe(
      'half_open',
    );
    await attempts('probe_svc', [
      { outcome: 'success', agoMs: 500 },
      { outcome: 'success', agoMs: 100 },
    ]);
    const { state, transition } = await evaluateBreaker(h.pool, {
      dependentSystem: 'probe_svc',
      actor: 'test',
    });
    expect(state).toBe('closed');
    expect(transition?.reason).toMatch(/2 probe successes/);
  });
});
