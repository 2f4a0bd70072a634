/**
 * The step graph of a template: checks (duplicates, unknown dependencies, cycles) and a stable
 * topological order. Edges point from a step to the steps it `depends_on`.
 */
import { type FieldIssue, ValidationError } from './errors.ts';

/** The part of a step the graph needs. */
export type DagNode = { name: string; depends_on: readonly string[] };

/**
 * Every problem of the step graph, with paths into the template (`/steps/2/depends_on/0`):
 * `duplicate_step`, `unknown_dependency`, `duplicate_dependency`, and `cycle` (a self-dependency
 * or a loop, named like `a -> b -> a`). Empty when the graph is a DAG.
 */
export function findDagIssues(steps: readonly DagNode[]): FieldIssue[] {
  const index = firstIndexByName(steps);
  return [...duplicateIssues(steps, index), ...edgeIssues(steps, index), ...cycleIssues(steps, index)];
}

/**
 * Step names in dependency order; among steps whose dependencies are all placed, the one declared
 * first goes first, so the order is stable and reads like the template.
 * @throws ValidationError when the graph has any issue of {@link findDagIssues}.
 */
export function topologicalOrder(steps: readonly DagNode[]): string[] {
  const issues = findDagIssues(steps);
  if (issues.length > 0) throw new ValidationError('invalid step graph', issues);
  const placed = new Set<string>();
  const order: string[] = [];
  while (order.length < steps.length) {
    // Quadratic, but templates have tens of steps and this keeps "first declared wins" obvious.
    const next = steps.find(
      (step) => !placed.has(step.name) && step.depends_on.every((dep) => placed.has(dep)),
    )!;
    placed.add(next.name);
    order.push(next.name);
  }
  return order;
}

function firstIndexByName(steps: readonly DagNode[]): Map<string, number> {
  const index = new Map<string, number>();
  steps.forEach((step, i) => {
    if (!index.has(step.name)) index.set(step.name, i);
  });
  return index;
}

function duplicateIssues(steps: readonly DagNode[], index: Map<string, number>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  steps.forEach((step, i) => {
    const first = index.get(step.name)!;
    if (first === i) return;
    const message = `duplicate step name "${step.name}" (first declared at /steps/${first})`;
    issues.push({ path: `/steps/${i}/name`, rule: 'duplicate_step', message });
  });
  return issues;
}

function edgeIssues(steps: readonly DagNode[], index: Map<string, number>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  steps.forEach((step, i) => {
    step.depends_on.forEach((dep, j) => {
      const path = `/steps/${i}/depends_on/${j}`;
      if (dep === step.name) {
        issues.push({ path, rule: 'cycle', message: `step "${dep}" depends on itself (${dep} -> ${dep})` });
      } else if (!index.has(dep)) {
        issues.push({ path, rule: 'unknown_dependency', message: `unknown step "${dep}"${suggest(index)}` });
      } else if (step.depends_on.indexOf(dep) < j) {
        issues.push({ path, rule: 'duplicate_dependency', message: `"${dep}" is listed twice` });
      }
    });
  });
  return issues;
}

function suggest(index: Map<string, number>): string {
  return `; steps are: ${[...index.keys()].join(', ')}`;
}

/**
 * One issue per loop (self-dependencies are reported by edgeIssues). Depth-first search from each
 * step in declaration order; a back edge closes a loop, read off the current path. Each loop is
 * reported once, rotated to start at its first-declared step, at that step's `depends_on`.
 */
function cycleIssues(steps: readonly DagNode[], index: Map<string, number>): FieldIssue[] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): void => {
    state.set(name, 'visiting');
    path.push(name);
    for (const dep of steps[index.get(name)!]!.depends_on) {
      if (dep === name || !index.has(dep)) continue;
      if (state.get(dep) === 'visiting') recordCycle(cycles, path.slice(path.indexOf(dep)), index);
      else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(name, 'done');
  };
  for (const name of index.keys()) if (!state.has(name)) visit(name);
  return [...cycles.values()].map((cycle) => {
    const message = `steps form a cycle: ${[...cycle, cycle[0]].join(' -> ')} (each depends on the next)`;
    return { path: `/steps/${index.get(cycle[0]!)}/depends_on`, rule: 'cycle', message };
  });
}

function recordCycle(cycles: Map<string, string[]>, members: string[], index: Map<string, number>): void {
  const start = members.reduce(
    (best, name, i) => (index.get(name)! < index.get(members[best]!)! ? i : best),
    0,
  );
  const rotated = [...members.slice(start), ...members.slice(0, start)];
  const key = rotated.join('\u0000');
  if (!cycles.has(key)) cycles.set(key, rotated);
}
