/**
 * The registration scenario through every kind of state change (success, a retry, a breaker
 * hold and its release, a fallback, cancellations, an operator retry and an operator resolve,
 * a step the plan decision skips),
 * then every row of the audit (step_audit: step_transitions and the derived creation rows; task_transitions) checked against the
 * state machines declared in @switchyard/core: each status declared, each move allowed, and each
 * step's and task's rows a path from its creation to the status it has now.
 */
import {
  canTransitionStep,
  canTransitionTask,
  STEP_MACHINE,
  type StepStatus,
  TASK_MACHINE,
  type TaskStatus,
  type TaskTemplate,
} from '@switchyard/core';
import { forceBreaker, registerTemplate } from '@switchyard/db';
import { cancelTask, resolveStep, retryStep } from '@switchyard/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './harness.ts';
import { type Registration, type RegistrationFleet, startRegistrationFleet } from './registration-harness.ts';

// Billing trips after 2 failures in a row and stays open 3 s: longer than the 2 s retry of the
// "slow retry" variant, so that retry is delivered while the breaker is open.
const BILLING_POLICY = {
  consecutive_failures: 2,
  min_calls: 1_000,
  open_ms: 3_000,
  open_jitter: 0,
  half_open_max_probes: 1,
  close_after_successes: 1,
};

let fleet: RegistrationFleet;
beforeAll(async () => {
  fleet = await startRegistrationFleet({ breakerPolicies: { billing_service: BILLING_POLICY } });
});
afterAll(() => fleet?.close());

const operator = { actor: 'operator', reason: 'state machine test' };
let people = 0;
const pro = (): Registration => {
  people += 1;
  return { email: `p${people}@example.com`, name: `P${people}`, plan: 'pro', payment_method: `pm_${people}` };
};
const free = (): Registration => {
  people += 1;
  return { email: `f${people}@example.com`, name: `F${people}` };
};

/** The registration template with another retry policy for the billing step, as its own version. */
async function billingVariant(suffix: string, retry: Partial<TaskTemplate['steps'][number]['retry']>) {
  const template: TaskTemplate = {
    ...fleet.template,
    version: `${fleet.template.version}-${suffix}`,
    steps: fleet.template.steps.map((step) =>
      step.name === 'setup_billing_profile' ? { ...step, retry: { ...step.retry, ...retry } } : step,
    ),
  };
  await registerTemplate(fleet.pool, template);
  return template.version;
}

const stepIs = (taskId: string, name: string, status: string) =>
  waitFor(
    `${name} of ${taskId} to be ${status}`,
    async () => (await fleet.steps(taskId))[name]?.status === status,
    20_000,
  );

async function taskStatus(taskId: string): Promise<string> {
  return (await fleet.pool.query('SELECT status FROM tasks WHERE id = $1', [taskId])).rows[0].status;
}

const taskIs = (taskId: string, status: string) =>
  waitFor(`task ${taskId} to be ${status}`, async () => (await taskStatus(taskId)) === status, 20_000);

describe('the registration scenario against the declared state machines', () => {
  it('success and a retry', async () => {
    const ok = await fleet.register(pro());
    expect((await fleet.waitForSettled([ok.task.id]))[ok.task.id]).toBe('complete');
    // One 503 (no Retry-After) from notification: the welcome step waits for its retry.
    fleet.services.notification.admin.setFaults({ sequence: [503] });
    const retried = await fleet.register(free());
    expect((await fleet.waitForSettled([retried.task.id]))[retried.task.id]).toBe('complete');
    expect(await trail('step', retried.task.id, 'send_welcome_sequence')).toEqual([
      '[*] → pending',
      'pending → enqueued',
      'enqueued → in_progress',
      'in_progress → waiting_retry',
      'waiting_retry → in_progress',
      'in_progress → complete',
    ]);
  });

  it('a breaker hold: billing down, the breaker opens and holds the steps, then releases them', async () => {
    const slowRetry = await billingVariant('slow-retry', {
      backoff_base_ms: 2_000,
      backoff_cap_ms: 2_000,
      jitter: false,
    });
    const once = await billingVariant('once', { max_attempts: 1 });
    await fleet.services.billing.admin.down();
    // First failure (the breaker stays closed): the step waits 2 s for its retry.
    const waiting = (await fleet.register(pro(), { version: slowRetry })).task.id;
    await stepIs(waiting, 'setup_billing_profile', 'waiting_retry');
    // Second failure in a row, on the step's only attempt: the breaker trips, and the failed
    // step is held rather than failed (error → held), its attempt given back.
    const exhausted = (await fleet.register(pro(), { version: once })).task.id;
    await stepIs(exhausted, 'setup_billing_profile', 'held');
    expect(await breakerState()).toBe('open');
    // The retry is delivered while the breaker is open (waiting_retry → held), and a new step
    // is held at its first delivery (enqueued → held).
    await stepIs(waiting, 'setup_billing_profile', 'held');
    const blocked = (await fleet.register(pro())).task.id;
    await stepIs(blocked, 'setup_billing_profile', 'held');
    // Cancelling a task with a held step.
    const cancelled = (await fleet.register(pro())).task.id;
    await stepIs(cancelled, 'setup_billing_profile', 'held');
    await cancelTask(fleet.operatorDeps, cancelled, operator);

    await fleet.services.billing.admin.up();
    const settled = await fleet.waitForSettled([waiting, exhausted, blocked, cancelled]);
    expect(settled).toEqual({
      [waiting]: 'complete',
      [exhausted]: 'complete',
      [blocked]: 'complete',
      [cancelled]: 'cancelled',
    });
    // On a slow host the breaker's open period can end before billing is up: its half-open probe
    // (this held step) then fails and is held again, so that cycle may repeat before the end.
    const exhaustedTrail = await trail('step', exhausted, 'setup_billing_profile');
    const failedProbes = (exhaustedTrail.length - 8) / 4;
    const probeFailed = ['held → enqueued', 'enqueued → in_progress', 'in_progress → error', 'error → held'];
    expect(exhaustedTrail).toEqual([
      '[*] → pending',
      'pending → enqueued',
      'enqueued → in_progress',
      'in_progress → error',
      'error → held',
      ...Array.from({ length: Math.max(0, failedProbes) }, () => probeFailed).flat(),
      'held → enqueued',
      'enqueued → in_progress',
      'in_progress → complete',
    ]);
    expect(await trail('step', cancelled, 'setup_billing_profile')).toContain('held → cancelled');
  });

  it('a fallback while the preferences breaker is open', async () => {
    await forceBreaker(fleet.pool, {
      dependentSystem: 'preferences_service',
      action: 'open',
      actor: 'test',
      reason: 'maintenance',
    });
    try {
      const { task } = await fleet.register(free());
      expect((await fleet.waitForSettled([task.id]))[task.id]).toBe('complete');
      const { rows } = await fleet.pool.query(
        `SELECT results FROM workflow_steps WHERE task_id = $1 AND name = 'initialize_preferences'`,
        [task.id],
      );
      expect(rows[0].results).toMatchObject({ fallback_used: true });
    } finally {
      await forceBreaker(fleet.pool, {
        dependentSystem: 'preferences_service',
        action: 'reset',
        actor: 'test',
        reason: 'done',
      });
    }
  });

  it('cancelling a running task', async () => {
    // The user service answers slowly, so the first step is still running when the task is cancelled.
    fleet.services.user.admin.setFaults({ latencyMs: 1_000 });
    try {
      const { task } = await fleet.register(free());
      await stepIs(task.id, 'create_user_account', 'in_progress');
      await cancelTask(fleet.operatorDeps, task.id, operator);
      expect(await taskStatus(task.id)).toBe('cancelled');
      expect(await trail('step', task.id, 'create_user_account')).toEqual([
        '[*] → enqueued',
        'enqueued → in_progress',
        'in_progress → cancelled',
      ]);
      // The late result of the cancelled attempt is stale and changes nothing.
      await waitFor('the cancelled attempt to end', async () => {
        const { rows } = await fleet.pool.query(
          `SELECT stale FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
            WHERE s.task_id = $1 AND s.name = 'create_user_account'`,
          [task.id],
        );
        return rows[0]?.stale === true;
      });
    } finally {
      fleet.services.user.admin.setFaults({ latencyMs: 0 });
    }
  });

  it("an operator's retry of a failed step", async () => {
    // A 422 from the user service: the first step fails for good and the task is blocked.
    fleet.services.user.admin.setFaults({ sequence: [422] });
    const { task } = await fleet.register(free());
    expect((await fleet.waitForSettled([task.id]))[task.id]).toBe('error');
    await retryStep(fleet.operatorDeps, task.id, 'create_user_account', operator);
    await taskIs(task.id, 'complete');
    expect(await trail('step', task.id, 'create_user_account')).toEqual([
      '[*] → enqueued',
      'enqueued → in_progress',
      'in_progress → error',
      'error → enqueued',
      'enqueued → in_progress',
      'in_progress → complete',
    ]);
    expect(await trail('task', task.id)).toEqual([
      '[*] → pending',
      'pending → in_progress',
      'in_progress → error',
      'error → in_progress',
      'in_progress → complete',
    ]);
  });

  it("an operator's resolve of a failed step, and cancelling a failed task", async () => {
    fleet.services.notification.admin.setFaults({ sequence: [422, 422] });
    const resolved = (await fleet.register(free())).task.id;
    const abandoned = (await fleet.register(free())).task.id;
    const settled = await fleet.waitForSettled([resolved, abandoned]);
    expect(settled).toEqual({ [resolved]: 'error', [abandoned]: 'error' });

    const { rows } = await fleet.pool.query(
      `SELECT results->>'user_id' AS user_id FROM workflow_steps WHERE task_id = $1 AND name = 'create_user_account'`,
      [resolved],
    );
    await resolveStep(fleet.operatorDeps, resolved, 'send_welcome_sequence', {
      ...operator,
      results: { user_id: rows[0].user_id, notification_id: 'sent-by-hand', status: 'sent' },
    });
    await taskIs(resolved, 'complete');
    expect(await trail('step', resolved, 'send_welcome_sequence')).toEqual([
      '[*] → pending',
      'pending → enqueued',
      'enqueued → in_progress',
      'in_progress → error',
      'error → resolved_manually',
    ]);

    await cancelTask(fleet.operatorDeps, abandoned, operator);
    expect(await trail('task', abandoned)).toEqual([
      '[*] → pending',
      'pending → in_progress',
      'in_progress → error',
      'error → cancelled',
    ]);
  });

  it('wrote only declared states and declared transitions, each row continuing from the one before', async () => {
    const steps = await audit('step');
    const tasks = await audit('task');
    const problems = [
      ...check('step', steps, STEP_MACHINE.states, (from, to) =>
        canTransitionStep(from as StepStatus | null, to as StepStatus),
      ),
      ...check('task', tasks, TASK_MACHINE.states, (from, to) =>
        canTransitionTask(from as TaskStatus | null, to as TaskStatus),
      ),
      ...(await currentStatusProblems('step', steps)),
      ...(await currentStatusProblems('task', tasks)),
    ];
    expect(problems).toEqual([]);

    const seen = (rows: AuditRow[]) => new Set(rows.map((r) => `${r.from_status ?? '[*]'} → ${r.to_status}`));
    const stepPairs = seen(steps);
    const taskPairs = seen(tasks);
    const unseen = [
      ...STEP_MACHINE.transitions
        .map((t) => `step ${t.from ?? '[*]'} → ${t.to}`)
        .filter((p) => !stepPairs.has(p.slice(5))),
      ...TASK_MACHINE.transitions
        .map((t) => `task ${t.from ?? '[*]'} → ${t.to}`)
        .filter((p) => !taskPairs.has(p.slice(5))),
    ];
    console.info(
      `[measure] state machine: ${steps.length} step and ${tasks.length} task transition rows, ${stepPairs.size} of ${STEP_MACHINE.transitions.length} step and ${taskPairs.size} of ${TASK_MACHINE.transitions.length} task transitions seen; not seen: ${unseen.join(', ')}`,
    );
    // The scenario went through the moves it was written for.
    for (const pair of [
      'enqueued → held',
      'waiting_retry → held',
      'error → held',
      'held → enqueued',
      'held → cancelled',
      'in_progress → waiting_retry',
      'waiting_retry → in_progress',
      'in_progress → cancelled',
      'pending → cancelled',
      'error → enqueued',
      'error → resolved_manually',
      // The plan decision skips provision_sso of every registration that is not enterprise.
      'pending → skipped',
    ]) {
      expect(stepPairs, pair).toContain(pair);
    }
    for (const pair of [
      'in_progress → complete',
      'in_progress → error',
      'error → in_progress',
      'error → cancelled',
    ]) {
      expect(taskPairs, pair).toContain(pair);
    }
  });
});

type AuditRow = { id: string; subject: string; from_status: string | null; to_status: string };

/** Every transition row of the database, in order, with the step or task it belongs to. */
async function audit(kind: 'step' | 'task'): Promise<AuditRow[]> {
  const sql =
    kind === 'step'
      ? 'SELECT id, step_id AS subject, from_status, to_status FROM step_audit ORDER BY id NULLS FIRST'
      : 'SELECT id, task_id AS subject, from_status, to_status FROM task_transitions ORDER BY id';
  return (await fleet.pool.query(sql)).rows;
}

/** The rows of one step (by task and name) or one task, as `from → to`. */
async function trail(kind: 'step' | 'task', taskId: string, stepName?: string): Promise<string[]> {
  const { rows } =
    kind === 'step'
      ? await fleet.pool.query(
          `SELECT st.from_status, st.to_status FROM step_audit st JOIN workflow_steps s ON s.id = st.step_id
            WHERE s.task_id = $1 AND s.name = $2 ORDER BY st.id NULLS FIRST`,
          [taskId, stepName],
        )
      : await fleet.pool.query(
          'SELECT from_status, to_status FROM task_transitions WHERE task_id = $1 ORDER BY id',
          [taskId],
        );
  return rows.map((r) => `${r.from_status ?? '[*]'} → ${r.to_status}`);
}

/** Undeclared statuses or moves, and rows that do not continue from the previous row of their subject. */
function check(
  kind: string,
  rows: AuditRow[],
  states: readonly string[],
  allowed: (from: string | null, to: string) => boolean,
): string[] {
  const problems: string[] = [];
  const last = new Map<string, string>();
  for (const row of rows) {
    const where = `${kind}_transitions ${row.id} (${kind} ${row.subject})`;
    for (const status of [row.from_status, row.to_status]) {
      if (status !== null && !states.includes(status)) problems.push(`${where}: ${status} is not declared`);
    }
    if (!allowed(row.from_status, row.to_status)) {
      problems.push(`${where}: ${row.from_status ?? '[*]'} → ${row.to_status} is not a declared transition`);
    }
    const before = last.get(row.subject) ?? null;
    if (before !== row.from_status) {
      problems.push(
        `${where}: moves from ${row.from_status ?? '[*]'} but the previous row left it ${before ?? '[*]'}`,
      );
    }
    last.set(row.subject, row.to_status);
  }
  return problems;
}

/** Rows whose subject is not now in the status its last transition row says. */
async function currentStatusProblems(kind: 'step' | 'task', rows: AuditRow[]): Promise<string[]> {
  const last = new Map<string, string>();
  for (const row of rows) last.set(row.subject, row.to_status);
  const table = kind === 'step' ? 'workflow_steps' : 'tasks';
  const { rows: current } = await fleet.pool.query(`SELECT id, status FROM ${table}`);
  return current
    .filter((row) => last.get(row.id) !== row.status)
    .map((row) => `${kind} ${row.id} is ${row.status} but its last transition row says ${last.get(row.id)}`);
}

async function breakerState(): Promise<string> {
  const { rows } = await fleet.pool.query(
    `SELECT state FROM circuit_breakers WHERE dependent_system = 'billing_service'`,
  );
  return rows[0]?.state;
}
