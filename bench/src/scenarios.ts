import { defineTemplate, type TaskTemplate, type TaskTemplateInput } from '@switchyard/core';
import type { Pool } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import type { StepDispatcher } from '@switchyard/queue';

/** The handler of the handler_latency scenario: it waits 10 ms and returns nothing. */
export const SLEEP_10MS = 'sleep_10ms';

/** The templates the scenarios run; every step uses the no-op handler, but registration_10ms's. */
export const templates = {
  linear4: chain('linear4', 4),
  linear20: chain('linear20', 20),
  registration: registration('registration', 'noop'),
  /** The registration DAG whose every handler waits 10 ms, as a call to a service would. */
  registration_10ms: registration('registration_10ms', SLEEP_10MS),
  fanout50: benchTemplate('fanout50', [
    { name: 'start', handler: 'noop' },
    ...Array.from({ length: 50 }, (_, i) => ({
      name: `branch${i}`,
      handler: 'noop',
      depends_on: ['start'],
    })),
    { name: 'finish', handler: 'noop', depends_on: Array.from({ length: 50 }, (_, i) => `branch${i}`) },
  ]),
} satisfies Record<string, TaskTemplate>;

/** A bench template: namespace bench, every task new (`unique`), one service. */
function benchTemplate(name: string, steps: TaskTemplateInput['steps']): TaskTemplate {
  return defineTemplate({
    namespace: 'bench',
    name,
    version: '1.0.0',
    default_dependent_system: 'bench',
    identity_strategy: 'unique',
    steps,
  });
}

function registration(name: string, handler: string): TaskTemplate {
  return benchTemplate(name, [
    { name: 'create_user_account', handler },
    { name: 'setup_billing_profile', handler, depends_on: ['create_user_account'] },
    { name: 'initialize_preferences', handler, depends_on: ['create_user_account'] },
    {
      name: 'send_welcome_sequence',
      handler,
      depends_on: ['setup_billing_profile', 'initialize_preferences'],
    },
    { name: 'update_user_status', handler, depends_on: ['send_welcome_sequence'] },
  ]);
}

function chain(name: string, length: number): TaskTemplate {
  return benchTemplate(
    name,
    Array.from({ length }, (_, i) => ({
      name: `s${i + 1}`,
      handler: 'noop',
      depends_on: i ? [`s${i}`] : [],
    })),
  );
}

export type Deps = { pool: Pool; dispatcher: StepDispatcher };

export async function create(deps: Deps, template: TaskTemplate): Promise<string> {
  const { task } = await createTask(deps, { namespace: 'bench', name: template.name, context: {} }, 'bench');
  return task.id;
}

/**
 * Waits until every task is complete, polling one aggregate query: every millisecond for a
 * single task (latency runs), every 250 ms for a batch (the poll itself costs Postgres an
 * index probe per id, and must not compete with the workload it measures).
 */
export async function waitForAll(pool: Pool, ids: string[], timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
      [ids],
    );
    if (rows[0].n === ids.length) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${ids.length} tasks completed`);
    await new Promise((resolve) => setTimeout(resolve, ids.length === 1 ? 1 : 250));
  }
}

/** Create → complete latency of each task, from the database's own timestamps. */
export async function latencies(pool: Pool, ids: string[]): Promise<number[]> {
  const { rows } = await pool.query(
    `SELECT extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM tasks WHERE id = ANY($1)`,
    [ids],
  );
  return rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs `count` creations with at most `parallel` in flight. */
export async function createMany(
  deps: Deps,
  template: TaskTemplate,
  count: number,
  parallel: number,
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next += 1;
        ids.push(await create(deps, template));
      }
    }),
  );
  return ids;
}
