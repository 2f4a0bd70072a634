/**
 * Parsing and building task templates. YAML files, `defineTemplate` and `templateBuilder` all go
 * through `parseTemplate`, so every route yields the same validated, defaults-filled object.
 */
import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { canonicalJson } from './canonical.ts';
import { topologicalOrder } from './dag.ts';
import { ValidationError } from './errors.ts';
import { crossFieldIssues } from './template-checks.ts';
import {
  DEFAULT_STEP_TIMEOUT_MS,
  RETRY_POLICY_DEFAULTS,
  type RetryPolicy,
  type RetryPolicyInput,
  type StepTemplate,
  type StepTemplateInput,
  type TaskTemplate,
  type TaskTemplateInput,
  TaskTemplateInputSchema,
  zodIssuesToFieldIssues,
} from './template-schema.ts';

/**
 * Validates a template document and fills in its defaults.
 * @throws ValidationError carrying every issue at once, e.g.
 *   `invalid template: /steps/1/depends_on/0: unknown step "x"; steps are: a, b (unknown_dependency)`.
 */
export function parseTemplate(input: unknown): TaskTemplate {
  const parsed = TaskTemplateInputSchema.safeParse(input, { reportInput: true });
  const issues = [
    ...(parsed.success ? [] : zodIssuesToFieldIssues(parsed.error.issues)),
    ...crossFieldIssues(input),
  ];
  if (issues.length > 0 || !parsed.success) throw new ValidationError('invalid template', issues);
  return resolveTemplate(parsed.data);
}

/**
 * Parses a template written in YAML.
 * @throws ValidationError with rule `yaml` (path `''`) for a syntax error, else as parseTemplate.
 */
export function parseTemplateYaml(text: string): TaskTemplate {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    // yaml's messages carry a code frame after the first line; the first line has the position.
    const issues = document.errors.map((error) => ({
      path: '',
      rule: 'yaml',
      message: error.message.split('\n')[0]!.replace(/:$/, ''),
    }));
    throw new ValidationError('invalid template', issues);
  }
  return parseTemplate(document.toJS());
}

/** Typed builder for templates in code; returns exactly what the same YAML would parse to. @throws ValidationError */
export function defineTemplate(input: TaskTemplateInput): TaskTemplate {
  return parseTemplate(input);
}

/** Options of one step in {@link templateBuilder}: a step as written, without its name. */
export type StepOptions = Omit<StepTemplateInput, 'name'>;

/** A fluent template builder; each call returns a new builder, so partial builders can be shared. */
export type TemplateBuilder = {
  step(name: string, options?: StepOptions): TemplateBuilder;
  /** @throws ValidationError as parseTemplate. */
  build(): TaskTemplate;
};

/**
 * Fluent alternative to {@link defineTemplate}:
 * `templateBuilder({ namespace, name, version }).step('a').step('b', { depends_on: ['a'] }).build()`.
 */
export function templateBuilder(head: Omit<TaskTemplateInput, 'steps'>): TemplateBuilder {
  return builderWith(head, []);
}

function builderWith(
  head: Omit<TaskTemplateInput, 'steps'>,
  steps: readonly StepTemplateInput[],
): TemplateBuilder {
  return {
    step: (name, options = {}) => builderWith(head, [...steps, { name, ...options }]),
    build: () => defineTemplate({ ...head, steps: [...steps] }),
  };
}

/** SHA-256 (hex) of the template's canonical JSON: equal content, equal hash, whatever the key order. */
export function templateContentHash(template: TaskTemplate): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex');
}

/** Step names in dependency order, declaration order among steps ready at the same time. */
export function stepOrder(template: TaskTemplate): string[] {
  return topologicalOrder(template.steps);
}

type ParsedInput = ReturnType<typeof TaskTemplateInputSchema.parse>;

function resolveTemplate(input: ParsedInput): TaskTemplate {
  const retry = mergeRetry(RETRY_POLICY_DEFAULTS, input.retry);
  const defaultSystem = input.default_dependent_system ?? null;
  return {
    namespace: input.namespace,
    name: input.name,
    version: input.version,
    description: input.description ?? null,
    default_dependent_system: defaultSystem,
    identity_strategy: input.identity_strategy ?? 'strict',
    context_schema: input.context_schema ?? { type: 'object' },
    retry,
    steps: input.steps.map((step) => resolveStep(step, retry, defaultSystem)),
    ...(input.triggers?.length ? { triggers: input.triggers.map(({ event }) => ({ event })) } : {}),
  };
}

function resolveStep(
  step: ParsedInput['steps'][number],
  retry: RetryPolicy,
  defaultSystem: string | null,
): StepTemplate {
  return {
    name: step.name,
    description: step.description ?? null,
    handler: step.handler ?? step.name,
    depends_on: step.depends_on ?? [],
    // crossFieldIssues guarantees one of the two is set.
    dependent_system: (step.dependent_system ?? defaultSystem)!,
    retry: mergeRetry(retry, step.retry),
    timeout_ms: step.timeout_ms ?? DEFAULT_STEP_TIMEOUT_MS,
    on_breaker_open: step.on_breaker_open ?? 'wait',
    handler_config: step.handler_config ?? {},
    ...(step.publishes?.length
      ? {
          publishes: step.publishes.map((event) => ({
            name: event.name,
            when: event.when ?? 'success',
            schema: event.schema ?? null,
          })),
        }
      : {}),
    ...(step.type ? { type: step.type } : {}),
    ...(step.decides ? { decides: [...step.decides] } : {}),
    ...(step.convergence === 'deferred' ? { convergence: 'deferred' as const } : {}),
  };
}

/** Field-by-field: a step that sets only `max_attempts` keeps the template's backoff. */
function mergeRetry(base: Readonly<RetryPolicy>, own: RetryPolicyInput | undefined): RetryPolicy {
  return {
    max_attempts: own?.max_attempts ?? base.max_attempts,
    backoff_base_ms: own?.backoff_base_ms ?? base.backoff_base_ms,
    backoff_cap_ms: own?.backoff_cap_ms ?? base.backoff_cap_ms,
    jitter: own?.jitter ?? base.jitter,
  };
}
