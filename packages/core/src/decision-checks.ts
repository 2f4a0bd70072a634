/**
 * Template rules of decision steps: a `decision` step names under `decides` the steps it may
 * activate, each of which depends on it (so it cannot start before the decision is made).
 * Reads the raw input leniently, as the other cross-field rules do.
 */
import type { FieldIssue } from './errors.ts';

type Loose = Record<string, unknown>;

/**
 * Issues `decides_required` (a decision step without `decides`), `decides_not_allowed`
 * (`decides` on another kind of step), `unknown_step`, `decides_not_child` and
 * `duplicate_decides` of the decision steps of a template.
 */
export function decisionStepIssues(steps: readonly Loose[]): FieldIssue[] {
  const byName = new Map(steps.map((step) => [step.name, step]));
  return steps.flatMap((step, i) => {
    const isDecision = step.type === 'decision';
    if (!isDecision && step.decides !== undefined) {
      const message = `only a step of type decision may declare decides (this step's type is ${JSON.stringify(step.type ?? 'none')})`;
      return [{ path: `/steps/${i}/decides`, rule: 'decides_not_allowed', message }];
    }
    if (!isDecision) return [];
    if (step.decides === undefined) {
      const message = 'a decision step must list under decides the steps it may activate';
      return [{ path: `/steps/${i}/decides`, rule: 'decides_required', message }];
    }
    return Array.isArray(step.decides) ? decidedIssues(step, i, byName) : [];
  });
}

function decidedIssues(step: Loose, i: number, byName: Map<unknown, Loose>): FieldIssue[] {
  const decides = step.decides as unknown[];
  return decides.flatMap((name, j): FieldIssue[] => {
    if (typeof name !== 'string') return [];
    const path = `/steps/${i}/decides/${j}`;
    const target = byName.get(name);
    if (!target) {
      const known = [...byName.keys()].filter((n) => typeof n === 'string').join(', ');
      return [{ path, rule: 'unknown_step', message: `unknown step "${name}"; steps are: ${known}` }];
    }
    if (decides.indexOf(name) < j) {
      return [{ path, rule: 'duplicate_decides', message: `"${name}" is listed twice` }];
    }
    const parents = Array.isArray(target.depends_on) ? target.depends_on : [];
    if (parents.includes(step.name)) return [];
    const message = `step "${name}" must list "${String(step.name)}" in its depends_on to be decided by it`;
    return [{ path, rule: 'decides_not_child', message }];
  });
}
