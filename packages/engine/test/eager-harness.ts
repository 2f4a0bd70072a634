import type { TaskTemplateInput } from '@switchyard/core';
import { type Pool, registerTemplate } from '@switchyard/db';
import { stepJobId } from '@switchyard/queue';
import type { EngineHarness } from './harness.ts';
import { testTemplate } from './harness.ts';

type StepInput = TaskTemplateInput['steps'][number];

/** A task of two steps of one handler, `parent` then `child`, created before any worker serves it. */
export async function parentAndChild(
  h: EngineHarness,
  handler: string,
  child: Partial<StepInput> = {},
): Promise<{ taskId: string; childId: string }> {
  const template = testTemplate({
    identity_strategy: 'unique',
    steps: [
      { name: 'parent', handler },
      { name: 'child', handler, depends_on: ['parent'], ...child },
    ],
  });
  await registerTemplate(h.pool, template);
  const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
  const { rows } = await h.pool.query(`SELECT id FROM workflow_steps WHERE task_id = $1 AND name = 'child'`, [
    task.id,
  ]);
  return { taskId: task.id, childId: rows[0].id };
}

export type Interposed = {
  /** The worker's pool: the harness's, with the hook before the eager claim. */
  pool: Pool;
  /** The rows the eager claim statement returned once it ran (resolves after the hook). */
  claimedRows: Promise<number>;
};

/**
 * The harness's pool with `hook` run once, just before the eager claim of `childId` reaches
 * Postgres: a claim statement for the child while the child has no job (no delivery could have
 * made it). Its success statements claim no child (see ChildClaimRoom in db), so every child
 * goes to that claim. It lets a test change the world between a success's commit and the eager
 * claim of its children, a moment nothing else reaches. Every statement still runs on the real
 * Postgres.
 */
export function beforeEagerClaim(
  h: EngineHarness,
  childId: string,
  hook: () => Promise<unknown>,
): Interposed {
  let fired = false;
  let report!: (rows: number) => void;
  const claimedRows = new Promise<number>((resolve) => {
    report = resolve;
  });
  const pool = withStatementHook(h.pool, async (name, values, run) => {
    // The success statement gets no slots to claim children with, as on a worker whose slots
    // were all busy: the child goes to the claim statement this hook stands before.
    if (name === 'switchyard_step_successes' && values) values.splice(13, 3, [], [], []);
    const ids = values?.[0];
    if (fired || name !== 'switchyard_claim_steps' || !Array.isArray(ids) || !ids.includes(childId))
      return run();
    const handler = (await h.pool.query('SELECT handler FROM workflow_steps WHERE id = $1', [childId]))
      .rows[0].handler as string;
    if (await h.dispatcher.queue(handler).getJob(stepJobId(childId, 1))) return run();
    fired = true;
    await hook();
    const result = await run();
    report(result.rows.filter((row) => row.id === childId).length);
    return result;
  });
  return { pool, claimedRows };
}

type Run = () => Promise<{ rows: Record<string, unknown>[] } & Record<string, unknown>>;

/**
 * `pool` whose named statements (the hot path's prepared ones) go through `around` first, which
 * decides when to run them; connections taken with connect() are the pool's own.
 */
export function withStatementHook(
  pool: Pool,
  around: (name: string | undefined, values: unknown[] | undefined, run: Run) => Promise<unknown>,
): Pool {
  return new Proxy(pool, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (property !== 'query') return typeof value === 'function' ? value.bind(target) : value;
      return (config: unknown, values?: unknown[]) => {
        const run = (() => (target.query as (...a: unknown[]) => unknown)(config, values)) as Run;
        if (typeof config !== 'object' || config === null) return run();
        const named = config as { name?: string; values?: unknown[] };
        return around(named.name, named.values, run);
      };
    },
  });
}

/** A gate handlers (or hooked statements) wait at until the test opens it. */
export function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}
