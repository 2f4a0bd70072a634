/**
 * Decision steps, decided without I/O: what a decision handler may return, and which steps a
 * decision skips. A decision step's handler chooses which of the steps it `decides` run; the
 * others are skipped, and so is every step behind them that can no longer run, except a
 * deferred join, which waits only for the parents that were activated.
 */
import type { StepStatus } from './states.ts';
import { STEP_SATISFIED, STEP_SETTLED } from './states.ts';

/** What a decision handler returns: the names of the steps to activate (other keys are kept as results). */
export type DecisionResult = { activate: string[] } & Record<string, unknown>;

/**
 * The return value of a decision handler that activates `names` (any of the step's `decides`,
 * or none), with optional extra results its dependents receive beside `activate`.
 * e.g. `return decide(plan === 'enterprise' ? ['provision_sso'] : [])`.
 */
export function decide(names: readonly string[], extra: Record<string, unknown> = {}): DecisionResult {
  return { ...extra, activate: [...names] };
}

/** A decision read from a handler's results: the chosen names, or why the results are not one. */
export type ParsedDecision = { ok: true; chosen: string[] } | { ok: false; message: string };

/**
 * Reads a decision handler's results: an object whose `activate` lists distinct names, each one
 * of `declared` (the step's `decides`). An empty list activates nothing.
 */
export function parseDecision(results: unknown, declared: readonly string[]): ParsedDecision {
  const expected = `a decision handler returns { activate: [...] } naming any of: ${declared.join(', ')}`;
  if (typeof results !== 'object' || results === null || Array.isArray(results)) {
    return { ok: false, message: `${expected} (got ${results === null ? 'null' : typeof results})` };
  }
  const activate = (results as Record<string, unknown>).activate;
  if (!Array.isArray(activate) || !activate.every((name) => typeof name === 'string')) {
    return { ok: false, message: `${expected} (activate is not a list of step names)` };
  }
  return checkChosen(activate, declared);
}

/** Checks a chosen set against the declared `decides` (an operator's resolve uses it too). */
export function checkChosen(chosen: readonly string[], declared: readonly string[]): ParsedDecision {
  const undeclared = chosen.filter((name) => !declared.includes(name));
  if (undeclared.length > 0) {
    const names = undeclared.map((name) => JSON.stringify(name)).join(', ');
    return {
      ok: false,
      message: `the decision chose ${names}, not declared under decides (declared: ${declared.join(', ')})`,
    };
  }
  const twice = chosen.filter((name, i) => chosen.indexOf(name) < i);
  if (twice.length > 0) return { ok: false, message: `the decision chose "${twice[0]}" twice` };
  return { ok: true, chosen: [...chosen] };
}

/** A step of a task as the skip rules see it. */
export type DecisionGraphStep = {
  name: string;
  status: StepStatus;
  convergence: 'all' | 'deferred';
  parents: readonly string[];
};

/** What a decision does to the rest of its task; apply it in the transaction that records the decision. */
export type SkipPlan = {
  /** pending → skipped, each with the reason recorded in its transition. */
  skipped: { name: string; reason: string }[];
  /** Deferred joins whose parents are now all settled, one at least satisfied: pending → enqueued. */
  ready: string[];
  /** Deferred joins still pending that lost a parent to a skip: their new count of unsettled parents. */
  pendingParents: { name: string; pendingParents: number }[];
};

/**
 * Skips the steps of `unchosen` that are still pending (one an operator already resolved stays
 * as it is), then, until nothing changes, every pending step behind a skipped one:
 * - a step of `convergence: all` is skipped (its parent will never be satisfied);
 * - a deferred join counts a skipped parent as settled: once none of its parents is unsettled
 *   it becomes ready if one of them is satisfied, else (all skipped) it is skipped too.
 * The decision step itself is whatever `steps` says (in progress while it is being recorded),
 * so a deferred join that also depends on it waits for it and runs even when nothing was chosen.
 */
export function planSkips(
  steps: readonly DecisionGraphStep[],
  unchosen: readonly string[],
  decision: string,
): SkipPlan {
  const status = new Map(steps.map((step) => [step.name, step.status]));
  const children = childrenByParent(steps);
  const plan: SkipPlan = { skipped: [], ready: [], pendingParents: [] };
  const touched = new Set<DecisionGraphStep>();
  const queue: string[] = [];
  const skip = (name: string, reason: string) => {
    status.set(name, 'skipped');
    plan.skipped.push({ name, reason });
    queue.push(name);
  };
  for (const name of unchosen) {
    if (status.get(name) === 'pending') skip(name, `not chosen by decision ${decision}`);
  }
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const child of children.get(parent) ?? []) {
      if (status.get(child.name) !== 'pending') continue;
      if (child.convergence === 'all') {
        skip(child.name, `parent ${parent} was skipped; it cannot run any more`);
        continue;
      }
      touched.add(child);
      const parents = child.parents.map((name) => status.get(name)!);
      if (!parents.every((s) => STEP_SETTLED.includes(s))) continue;
      if (parents.some((s) => STEP_SATISFIED.includes(s))) {
        status.set(child.name, 'enqueued');
        plan.ready.push(child.name);
      } else skip(child.name, 'every parent was skipped');
    }
  }
  for (const join of touched) {
    if (status.get(join.name) !== 'pending') continue;
    const unsettled = join.parents.filter((name) => !STEP_SETTLED.includes(status.get(name)!)).length;
    plan.pendingParents.push({ name: join.name, pendingParents: unsettled });
  }
  return plan;
}

function childrenByParent(steps: readonly DecisionGraphStep[]): Map<string, DecisionGraphStep[]> {
  const children = new Map<string, DecisionGraphStep[]>();
  for (const step of steps) {
    for (const parent of step.parents) children.set(parent, [...(children.get(parent) ?? []), step]);
  }
  return children;
}
