import { defineTemplate } from '@switchyard/core';
import { registerTemplate } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, startFleet, waitFor } from './harness.ts';

// Generous deadlines: only a wait that never ends is a failure. What it took is printed.
const DEADLINE_MS = 170_000;
const TASKS = 2_000;

/** The registration DAG (create → billing ∥ preferences → welcome → status) of fixture steps. */
const registration = defineTemplate({
  namespace: 'e2e',
  name: 'eager_registration',
  version: '1.0.0',
  default_dependent_system: 'fixture',
  identity_strategy: 'unique',
  retry: { max_attempts: 5, backoff_base_ms: 50, backoff_cap_ms: 200 },
  steps: [
    { name: 'create_user_account', handler: 'recorded', timeout_ms: 2_000 },
    {
      name: 'setup_billing_profile',
      handler: 'recorded',
      timeout_ms: 2_000,
      depends_on: ['create_user_account'],
    },
    {
      name: 'initialize_preferences',
      handler: 'recorded',
      timeout_ms: 2_000,
      depends_on: ['create_user_account'],
    },
    {
      name: 'send_welcome_sequence',
      handler: 'recorded',
      timeout_ms: 2_000,
      depends_on: ['setup_billing_profile', 'initialize_preferences'],
    },
    {
      name: 'update_user_status',
      handler: 'recorded',
      timeout_ms: 2_000,
      depends_on: ['send_welcome_sequence'],
    },
  ],
});

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
}, DEADLINE_MS);
afterEach(() => fleet.close(), DEADLINE_MS);

async function completed(ids: string[]): Promise<number> {
  const { rows } = await fleet.pool.query(
    `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
    [ids],
  );
  return rows[0].n;
}

describe('the eager claim through failures', () => {
  it('2,000 registrations with a worker SIGKILLed and Redis flushed mid-run: every step succeeds exactly once', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    const startedAt = Date.now();
    const env = { SWITCHYARD_CONCURRENCY: '10', SWITCHYARD_EAGER_CLAIM: 'true' };
    const doomed = fleet.spawnWorker({ ...env, SWITCHYARD_WORKER_ID: 'doomed' });
    fleet.spawnWorker({ ...env, SWITCHYARD_WORKER_ID: 'steady' });
    await registerTemplate(fleet.pool, registration);
    const ids: string[] = [];
    const deps = { pool: fleet.pool, dispatcher: fleet.dispatcher };
    let started = 0;
    // Twenty creators at once, as an API under load would create them.
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (started < TASKS) {
          started += 1;
          const { task } = await createTask(deps, { namespace: 'e2e', name: registration.name, context: {} });
          ids.push(task.id);
        }
      }),
    );

    await waitFor(
      'a quarter of the registrations to complete',
      async () => (await completed(ids)) >= TASKS / 4,
      DEADLINE_MS,
    );
    const { rows: running } = await fleet.pool.query(
      `SELECT count(*)::int AS n FROM workflow_steps WHERE claimed_by = 'doomed' AND status = 'in_progress'`,
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const killedAt = Date.now();
    fleet.spawnWorker({ ...env, SWITCHYARD_WORKER_ID: 'replacement' });
    await waitFor(
      'half of the registrations to complete',
      async () => (await completed(ids)) >= TASKS / 2,
      DEADLINE_MS,
    );
    await fleet.redis.flushall();
    const flushedAt = Date.now();
    await fleet.waitForTasks(ids, DEADLINE_MS);
    const doneAt = Date.now();

    const { rows: steps } = await fleet.pool.query(
      `SELECT s.status, count(*)::int AS steps,
              count(*) FILTER (WHERE (SELECT count(*) FROM step_attempts a
                                       WHERE a.step_id = s.id AND a.outcome = 'success' AND NOT a.stale) = 1)::int AS once
         FROM workflow_steps s WHERE s.task_id = ANY($1) GROUP BY s.status`,
      [ids],
    );
    expect(steps).toEqual([{ status: 'complete', steps: TASKS * 5, once: TASKS * 5 }]);
    const { rows: attempts } = await fleet.pool.query(
      `SELECT outcome, count(*)::int AS n FROM step_attempts WHERE task_id = ANY($1) GROUP BY outcome ORDER BY outcome`,
      [ids],
    );
    const { rows: twice } = await fleet.pool.query(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM side_effects WHERE kind = 'completed'
                                       GROUP BY task_id, step_name HAVING count(*) > 1) d`,
    );
    console.info(
      `[measure] ${TASKS} registrations (${TASKS * 5} steps, 2 worker processes of 10 slots, eager claim on): ` +
        `all complete ${doneAt - startedAt} ms after the start, ${doneAt - killedAt} ms after the SIGKILL ` +
        `(${running[0].n} steps in progress on the killed worker), ${doneAt - flushedAt} ms after the FLUSHALL; ` +
        `attempts by outcome ${JSON.stringify(attempts)}; handlers that completed twice (killed before recording): ${twice[0].n}`,
    );
  });
});
