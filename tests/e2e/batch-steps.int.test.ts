import { fileURLToPath } from 'node:url';
import { defineTemplate } from '@switchyard/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, startFleet, waitFor } from './harness.ts';

// Generous deadlines: on a loaded machine a worker process takes many seconds to start; only a
// wait that never ends is a failure.
const DEADLINE_MS = 120_000;
const batchHandlers = fileURLToPath(new URL('./fixtures/batch-handlers.ts', import.meta.url));

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
  await fleet.pool.query(
    'CREATE TABLE batch_items (item int NOT NULL, batch int NOT NULL, attempt int NOT NULL, pid int NOT NULL)',
  );
}, DEADLINE_MS);
afterEach(() => fleet.close(), DEADLINE_MS);

const template = defineTemplate({
  namespace: 'e2e',
  name: 'batch_import',
  version: '1.0.0',
  default_dependent_system: 'fixture',
  identity_strategy: 'unique',
  retry: { max_attempts: 3, backoff_base_ms: 50, backoff_cap_ms: 200 },
  steps: [
    { name: 'plan', handler: 'batch_plan', type: 'batchable' },
    // The lease of a killed worker's attempt ends with the step's timeout: 5 s.
    { name: 'import', handler: 'batch_items', type: 'batch_worker', depends_on: ['plan'], timeout_ms: 5_000 },
    { name: 'report', handler: 'batch_report', depends_on: ['import'] },
  ],
});

describe('batch steps across worker processes', () => {
  it('1,000 items in 20 batches: a worker SIGKILLed mid-batch, its batch resumes from the checkpoint and each item is processed once', {
    timeout: 3 * DEADLINE_MS,
  }, async () => {
    // One batch at a time per process: when the paused batch's process is killed, it is running
    // nothing else, so no other batch is caught between an item and its checkpoint (that window
    // is at-least-once, like any step: see the README).
    const env = { SWITCHYARD_HANDLER_MODULES: batchHandlers, SWITCHYARD_CONCURRENCY: '1' };
    const workers = [
      fleet.spawnWorker({ ...env, SWITCHYARD_WORKER_ID: 'w1' }),
      fleet.spawnWorker({ ...env, SWITCHYARD_WORKER_ID: 'w2' }),
    ];
    const [taskId] = await fleet.createTasks(template, 1, {
      items: 1000,
      batchSize: 50,
      pauseBatch: 7,
      pauseAfter: 25,
    });

    const [paused] = await waitFor(
      'batch 7 to pause after 25 items',
      async () => {
        const rows = await fleet.sideEffects('paused');
        return rows.length > 0 && rows;
      },
      DEADLINE_MS,
    );
    const doomed = workers.find((w) => w.child.pid === paused!.pid)!;
    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await doomed.exited;
    await fleet.waitForTasks([taskId!], DEADLINE_MS);

    const { rows: counts } = await fleet.pool.query(
      'SELECT item, count(*)::int AS n FROM batch_items GROUP BY item ORDER BY item',
    );
    expect(counts).toHaveLength(1000);
    expect(counts.every((row, i) => row.item === i && row.n === 1)).toBe(true);

    const { rows: resumed } = await fleet.pool.query(
      `SELECT attempt, min(item)::int AS first, max(item)::int AS last, count(*)::int AS n
         FROM batch_items WHERE batch = 7 GROUP BY attempt ORDER BY attempt`,
    );
    expect(resumed).toEqual([
      { attempt: 1, first: 350, last: 374, n: 25 },
      { attempt: 2, first: 375, last: 399, n: 25 },
    ]);
    const { rows: steps } = await fleet.pool.query(
      `SELECT name, status, results FROM workflow_steps WHERE task_id = $1 AND name IN ('import#7', 'report')
        ORDER BY name`,
      [taskId],
    );
    expect(steps).toEqual([
      { name: 'import#7', status: 'complete', results: { processed: 50, resumedFrom: 375 } },
      { name: 'report', status: 'complete', results: { batches: 20, processed: 1000 } },
    ]);
    const { rows: attempts } = await fleet.pool.query(
      `SELECT a.attempt, a.outcome FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
        WHERE s.task_id = $1 AND s.name = 'import#7' ORDER BY a.attempt`,
      [taskId],
    );
    expect(attempts).toEqual([
      { attempt: 1, outcome: 'lease_expired' },
      { attempt: 2, outcome: 'success' },
    ]);
    const { rows: timing } = await fleet.pool.query(
      `SELECT min(a.started_at) AS resumed_at FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
        WHERE s.task_id = $1 AND s.name = 'import#7' AND a.attempt = 2`,
      [taskId],
    );
    console.info(
      `[measure] batch 7 resumed ${timing[0].resumed_at.getTime() - killedAt} ms after its worker was killed (step timeout 5000 ms)`,
    );
  });
});
