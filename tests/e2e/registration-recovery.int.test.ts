import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, spawnWorkerProcess, type WorkerProcess, waitFor } from './harness.ts';
import { type RegistrationFleet, startRegistrationFleet } from './registration-harness.ts';

const handlerModule = fileURLToPath(
  new URL('../../examples/user-registration/src/handlers.ts', import.meta.url),
);

let fleet: RegistrationFleet | null = null;
const workers: WorkerProcess[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) {
    worker.child.kill('SIGKILL');
    await worker.exited;
  }
  await fleet?.close();
  fleet = null;
});

const paid = (i: number) => ({
  email: `u${i}@example.com`,
  name: `User ${i}`,
  plan: i % 2 ? ('pro' as const) : ('enterprise' as const),
  payment_method: `pm_${i}`,
});

describe('registrations through failures', () => {
  it('billing outage: registrations park without hammering billing and all complete when it returns', async () => {
    const policy = {
      consecutive_failures: 3,
      min_calls: 1_000,
      open_ms: 1_000,
      open_max_ms: 4_000,
      open_jitter: 0,
      close_after_successes: 2,
    };
    fleet = await startRegistrationFleet({ breakerPolicies: { billing_service: policy } });
    const f = fleet;
    await f.services.billing.admin.down();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await f.register(paid(i))).task.id);
    await waitFor('the billing breaker to open', async () => {
      const { rows } = await f.pool.query(
        `SELECT state FROM circuit_breakers WHERE dependent_system = 'billing_service'`,
      );
      return rows[0]?.state === 'open';
    });
    await sleep(3_000);
    await f.services.billing.admin.up();
    const upAt = Date.now();
    const settled = await f.waitForSettled(ids, 20_000);
    const recoveryMs = Date.now() - upAt;

    const { rows: calls } = await f.pool.query(
      `SELECT count(*)::int AS n FROM step_attempts WHERE dependent_system = 'billing_service' AND error_code = 'connection_refused'`,
    );
    const { rows: probes } = await f.pool.query(
      `SELECT count(*)::int AS n FROM breaker_transitions WHERE dependent_system = 'billing_service' AND to_state = 'half_open'`,
    );
    console.info(
      `[measure] registration outage: ${calls[0].n} calls to the down billing service (${probes[0].n} half-open probes, 5 worker slots); all 20 complete ${recoveryMs} ms after it returned`,
    );
    expect(Object.values(settled)).toEqual(Array(20).fill('complete'));
    // The trip threshold, the calls already in flight on the other worker slots, and one per probe.
    expect(calls[0].n).toBeLessThanOrEqual(3 + 4 + probes[0].n);
    expect(f.services.billing.admin.counters().endpoints['POST /billing/profiles']).toMatchObject({
      sideEffects: 20,
    });
  });

  it('every service performs each side effect once despite duplicate deliveries and a worker killed mid-run', async () => {
    fleet = await startRegistrationFleet({ inProcessWorker: false });
    const f = fleet;
    for (const kind of ['user', 'billing', 'preferences', 'notification'] as const)
      f.services[kind].admin.setFaults({ latencyMs: 40 });
    const env = {
      DATABASE_URL: f.database.url,
      REDIS_URL: f.redisUrl,
      SWITCHYARD_QUEUE_PREFIX: f.prefix,
      SWITCHYARD_HANDLER_MODULES: handlerModule,
      SWITCHYARD_LEASE_MS: '1500',
      SWITCHYARD_CONCURRENCY: '4',
      LOG_LEVEL: 'error',
      ...f.services.env,
    };
    const doomed = spawnWorkerProcess({ ...env, SWITCHYARD_WORKER_ID: 'doomed' });
    workers.push(doomed);
    await waitFor(
      'the first worker to start',
      async () => {
        const { rows } = await f.pool.query(`SELECT 1 FROM workers WHERE id = 'doomed'`);
        return rows.length > 0;
      },
      30_000,
    );
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await f.register(paid(i))).task.id);
    // Deliver every queued step a second time under another job id.
    const { rows: queued } = await f.pool.query(
      `SELECT id, task_id, handler, attempts + 1 AS attempt FROM workflow_steps WHERE task_id = ANY($1) AND status = 'enqueued'`,
      [ids],
    );
    for (const step of queued) {
      await f.dispatcher
        .queue(step.handler)
        .add(
          step.handler,
          { stepId: step.id, taskId: step.task_id, attempt: step.attempt },
          { jobId: `${step.id}.dup` },
        );
    }
    await waitFor('the doomed worker to be running a step', async () => {
      const { rows } = await f.pool.query(
        `SELECT 1 FROM workflow_steps WHERE claimed_by = 'doomed' AND status = 'in_progress'`,
      );
      return rows.length > 0;
    });
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    workers.push(spawnWorkerProcess({ ...env, SWITCHYARD_WORKER_ID: 'survivor' }));
    const settled = await f.waitForSettled(ids, 90_000);

    expect(Object.values(settled)).toEqual(Array(30).fill('complete'));
    const sideEffects = (kind: 'user' | 'billing' | 'preferences' | 'notification', endpoint: string) =>
      f.services[kind].admin.counters().endpoints[endpoint]?.sideEffects;
    expect(sideEffects('user', 'POST /users')).toBe(30);
    expect(sideEffects('billing', 'POST /billing/profiles')).toBe(30);
    expect(sideEffects('preferences', 'POST /preferences')).toBe(30);
    expect(sideEffects('notification', 'POST /notifications/welcome')).toBe(30);
    expect(sideEffects('user', 'PATCH /users/:id/status')).toBe(30);
    // Half of them are enterprise: one SSO connection each, none for the pro half.
    expect(sideEffects('user', 'POST /users/:id/sso')).toBe(15);
    const { rows: lost } = await f.pool.query(
      `SELECT count(*)::int AS n FROM step_attempts WHERE outcome = 'lease_expired'`,
    );
    expect(lost[0].n).toBeGreaterThan(0);
  });
});
