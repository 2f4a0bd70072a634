/**
 * Rules of a template that span fields: the step graph, inherited dependent systems and merged
 * retry policies. They read the raw input leniently (skipping what the schema already rejects)
 * so that one ValidationError can carry these issues together with the schema's.
 */
import { batchStepIssues } from './batch-checks.ts';
import { findDagIssues } from './dag.ts';
import { decisionStepIssues } from './decision-checks.ts';
import type { FieldIssue } from './errors.ts';
import { isLifecycleEventType } from './events.ts';
import { RETRY_POLICY_DEFAULTS } from './template-schema.ts';

type Loose = Record<string, unknown>;

/**
 * Issues of the cross-field rules: `duplicate_step`, `unknown_dependency`, `cycle`, `required`,
 * `backoff_cap`, `reserved_event`, `duplicate_event`, `duplicate_trigger`, `batch_worker_parent`,
 * `batchable_worker`, `decides_required`, `decides_not_allowed`, `unknown_step`, `decides_not_child`.
 */
export function crossFieldIssues(input: unknown): FieldIssue[] {
  if (!isObject(input) || !Array.isArray(input.steps)) return [];
  const steps = input.steps.map((step) => (isObject(step) ? step : {}));
  return [
    ...graphIssues(steps),
    ...dependentSystemIssues(input, steps),
    ...backoffIssues(input, steps),
    ...publishedEventIssues(steps),
    ...triggerIssues(input),
    ...batchStepIssues(steps),
    ...decisionStepIssues(steps),
  ];
}

/** A template is not started by Switchyard's own events (they are not posted), nor twice by one. */
function triggerIssues(input: Loose): FieldIssue[] {
  if (!Array.isArray(input.triggers)) return [];
  const seen = new Set<string>();
  return input.triggers.flatMap((trigger: unknown, i): FieldIssue[] => {
    const event = isObject(trigger) ? trigger.event : undefined;
    if (!isString(event)) return [];
    const path = `/triggers/${i}/event`;
    if (isLifecycleEventType(event)) {
      return [
        { path, rule: 'reserved_event', message: `"${event}" is an event Switchyard publishes itself` },
      ];
    }
    if (seen.has(event)) return [{ path, rule: 'duplicate_trigger', message: `"${event}" is listed twice` }];
    seen.add(event);
    return [];
  });
}

/** A step may not publish one of Switchyard's own event types, nor declare an event twice. */
function publishedEventIssues(steps: Loose[]): FieldIssue[] {
  return steps.flatMap((step, i) => {
    if (!Array.isArray(step.publishes)) return [];
    const seen = new Set<string>();
    return step.publishes.flatMap((event: unknown, j): FieldIssue[] => {
      const name = isObject(event) ? event.name : undefined;
      if (!isString(name)) return [];
      const path = `/steps/${i}/publishes/${j}/name`;
      if (isLifecycleEventType(name)) {
        return [
          { path, rule: 'reserved_event', message: `"${name}" is an event Switchyard publishes itself` },
        ];
      }
      if (seen.has(name)) return [{ path, rule: 'duplicate_event', message: `"${name}" is declared twice` }];
      seen.add(name);
      return [];
    });
  });
}

function graphIssues(steps: Loose[]): FieldIssue[] {
  const nodes = steps.map((step) => ({ name: step.name, depends_on: step.depends_on ?? [] }));
  // A step without a usable name or dependency list already has a schema issue; checking the
  // graph around it would only add noise.
  const usable = nodes.every(
    (node) =>
      typeof node.name === 'string' && Array.isArray(node.depends_on) && node.depends_on.every(isString),
  );
  return usable ? findDagIssues(nodes as { name: string; depends_on: string[] }[]) : [];
}

function dependentSystemIssues(input: Loose, steps: Loose[]): FieldIssue[] {
  if (input.default_dependent_system != null) return [];
  return steps.flatMap((step, i) =>
    step.dependent_system === undefined
      ? [
          {
            path: `/steps/${i}/dependent_system`,
            rule: 'required',
            message: 'is required when the template has no default_dependent_system',
          },
        ]
      : [],
  );
}

/**
 * backoff_cap_ms ≥ backoff_base_ms, on the merged policies. Reported at the template's `retry`
 * and at each step whose own `retry` sets either bound (steps inheriting both share the template's issue).
 */
function backoffIssues(input: Loose, steps: Loose[]): FieldIssue[] {
  const templateRetry = numbersOf(input.retry);
  const issues = capIssue('/retry', { ...numbersOf(RETRY_POLICY_DEFAULTS), ...templateRetry });
  steps.forEach((step, i) => {
    const own = numbersOf(step.retry);
    if (own.backoff_base_ms === undefined && own.backoff_cap_ms === undefined) return;
    issues.push(
      ...capIssue(`/steps/${i}/retry`, { ...numbersOf(RETRY_POLICY_DEFAULTS), ...templateRetry, ...own }),
    );
  });
  return issues;
}

function capIssue(path: string, policy: Record<string, number>): FieldIssue[] {
  const { backoff_base_ms: base, backoff_cap_ms: cap } = policy;
  if (base === undefined || cap === undefined || cap >= base) return [];
  const message = `backoff_cap_ms (${cap}) must be >= backoff_base_ms (${base}), after inheriting the template's retry and the defaults`;
  return [{ path: `${path}/backoff_cap_ms`, rule: 'backoff_cap', message }];
}

function numbersOf(value: unknown): Record<string, number> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
  );
}

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
