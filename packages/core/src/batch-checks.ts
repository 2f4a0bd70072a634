/**
 * Template rules of batch steps: a `batch_worker` is the prototype of the workers one
 * `batchable` step's plan creates, so it hangs under exactly that step, and that step has
 * exactly one prototype. Reads the raw input leniently, as the other cross-field rules do.
 */
import type { FieldIssue } from './errors.ts';

type Loose = Record<string, unknown>;

/** Issues `batch_worker_parent` and `batchable_worker` of the batch steps of a template. */
export function batchStepIssues(steps: readonly Loose[]): FieldIssue[] {
  const typeOf = new Map(steps.map((step) => [step.name, step.type]));
  const issues: FieldIssue[] = [];
  steps.forEach((step, i) => {
    if (step.type === 'batch_worker') issues.push(...workerParentIssues(step, i, typeOf));
    if (step.type === 'batchable') issues.push(...batchableWorkerIssues(step, i, steps));
  });
  return issues;
}

function workerParentIssues(step: Loose, i: number, typeOf: Map<unknown, unknown>): FieldIssue[] {
  const parents = Array.isArray(step.depends_on) ? step.depends_on : [];
  const only = parents.length === 1 ? parents[0] : undefined;
  if (only !== undefined && typeOf.get(only) === 'batchable') return [];
  const got =
    parents.length === 0
      ? 'it depends on nothing'
      : `it depends on ${parents.map((p) => JSON.stringify(p)).join(', ')}`;
  return [
    {
      path: `/steps/${i}/depends_on`,
      rule: 'batch_worker_parent',
      message: `a batch_worker must depend on exactly one step, of type batchable (${got})`,
    },
  ];
}

function batchableWorkerIssues(step: Loose, i: number, steps: readonly Loose[]): FieldIssue[] {
  const workers = steps.filter(
    (other) =>
      other.type === 'batch_worker' &&
      Array.isArray(other.depends_on) &&
      other.depends_on.includes(step.name),
  );
  if (workers.length === 1) return [];
  const message =
    workers.length === 0
      ? 'a batchable step needs exactly one batch_worker step that depends on it (none does)'
      : `a batchable step has exactly one batch_worker step (${workers.map((w) => JSON.stringify(w.name)).join(', ')} depend on it)`;
  return [{ path: `/steps/${i}/type`, rule: 'batchable_worker', message }];
}
