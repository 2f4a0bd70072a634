/**
 * How the task page shows decision steps: what a decision chose (its results' `activate`), the
 * DAG box's second line for it and for a skipped step, and the resolve dialog of a decision,
 * whose JSON field takes the chosen steps instead of results.
 */
import type { Step } from '@switchyard/client';

/** The steps a decision step chose, or null for another step or a decision not yet made. */
export function chosenOf(step: Pick<Step, 'type' | 'results'>): string[] | null {
  if (step.type !== 'decision') return null;
  const activate = (step.results as { activate?: unknown } | null)?.activate;
  return Array.isArray(activate) && activate.every((name) => typeof name === 'string') ? activate : null;
}

/**
 * The second line of a step's DAG box when decisions shape it: what a decision chose, or `not
 * run` for a skipped step; null for any other step (its attempts or batch progress then).
 */
export function decisionDetail(step: Pick<Step, 'type' | 'results' | 'status'>): string | null {
  if (step.status === 'skipped') return 'not run';
  const chosen = chosenOf(step);
  return chosen ? `chose ${chosen.length > 0 ? chosen.join(', ') : 'none'}` : null;
}

/** What the resolve dialog says for a step: a decision asks for the steps it chooses. */
export function resolvePrompt(step: Pick<Step, 'type' | 'decides'>): {
  message: string;
  body(json: unknown): object;
} {
  if (step.type !== 'decision') {
    return {
      message: 'The step becomes resolved manually with the results given, and its dependents proceed.',
      body: (json) => (json === undefined ? {} : { results: json }),
    };
  }
  const declared = (step.decides ?? []).map((name) => JSON.stringify(name)).join(', ');
  return {
    message: `This is a decision: give the steps it chooses as a JSON list, any of ${declared} ([] for none). The others are skipped.`,
    body: (json) => ({ chosen: json ?? [] }),
  };
}
