/**
 * The template document: its parsed types, its defaults and the zod schema of what a user may
 * write. Keys stay snake_case from YAML to Postgres to the API, as Tasker users know them.
 */
import semver from 'semver';
import { z } from 'zod';
import { checkJsonSchema } from './context.ts';
import type { FieldIssue } from './errors.ts';

/** How a step retries; see computeRetryDelayMs. */
export type RetryPolicy = {
  /** Attempts in all, the first included; integer 1..100, default 3. */
  max_attempts: number;
  /** Delay after the first failure; integer ≥ 0, default 1000. */
  backoff_base_ms: number;
  /** Largest delay, also caps `retryAfter`; integer ≥ backoff_base_ms, default 60000. */
  backoff_cap_ms: number;
  /** Full jitter (a random delay in [0, backoff)); default true. */
  jitter: boolean;
};

/**
 * How duplicate task creations are detected: `strict` (same template version and context),
 * `caller_key` (the caller's idempotency key), `unique` (never a duplicate). Default `strict`.
 */
export type IdentityStrategy = 'strict' | 'caller_key' | 'unique';

/** One step of a parsed template; every default is filled in. */
export type StepTemplate = {
  name: string;
  description: string | null;
  /** The step handler's name; default the step name. */
  handler: string;
  /** Default []. */
  depends_on: string[];
  /** The service the step calls, whose breaker guards it; default the template's default_dependent_system. */
  dependent_system: string;
  /** Each field defaults to the template's `retry`. */
  retry: RetryPolicy;
  /** Integer 1..86_400_000 (a day), default 30_000. */
  timeout_ms: number;
  /** Passed to the handler as is; default {}. */
  handler_config: Record<string, unknown>;
  /**
   * While the dependent system's breaker is open: `wait` (default) holds the step until the
   * service recovers; `fallback` runs the handler's fallback instead (a degraded result).
   */
  on_breaker_open: 'wait' | 'fallback';
  /**
   * Domain events the step publishes with its attempts' outcomes. Absent when none: a template
   * without events then stores exactly as before, so the release before this one still reads it
   * during a rolling upgrade.
   */
  publishes?: PublishedEvent[];
  /**
   * What kind of step this is; absent for an ordinary step (so templates without types store as
   * before). `batchable`: its handler returns a batch plan (see batch-plan.ts); `batch_worker`:
   * the prototype of the workers created from its batchable parent's plan, one per batch.
   * `decision`: its handler chooses which of the steps under `decides` run (see decisions.ts).
   */
  type?: StepType;
  /** The steps a `decision` step may activate (each depends on it); present only on decision steps. */
  decides?: string[];
  /**
   * `deferred`: a join that waits only for the parents that were activated (a skipped parent
   * counts as settled). Absent for the default `all`: every parent must be satisfied.
   */
  convergence?: 'deferred';
};

/** The kinds of step a template may declare under `type` (an ordinary step has none). */
export const STEP_TYPES = ['batchable', 'batch_worker', 'decision'] as const;
export type StepType = (typeof STEP_TYPES)[number];

/**
 * When a declared event is published: `success` (default), `failure` (every failed attempt),
 * `permanent_failure` (the attempt that fails the step for good: a permanent error or the last
 * attempt), `always` (every attempt that succeeds or fails).
 */
export type PublishCondition = 'success' | 'failure' | 'permanent_failure' | 'always';

/** A domain event a step publishes, e.g. `{ name: 'user.registered', when: 'success' }`. */
export type PublishedEvent = {
  /** Dotted lowercase name, e.g. `user.registered`; not one of Switchyard's own event types. */
  name: string;
  when: PublishCondition;
  /** JSON Schema the payload must satisfy, or null. */
  schema: Record<string, unknown> | null;
};

/** Names of events a handler publishes: dotted lowercase words, e.g. `user.registered`. */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/** A parsed, validated template; every default is filled in, so consumers never see `undefined`. */
export type TaskTemplate = {
  namespace: string;
  name: string;
  /** Strict semver, e.g. `1.2.0`. */
  version: string;
  description: string | null;
  default_dependent_system: string | null;
  /** Default `strict`. */
  identity_strategy: IdentityStrategy;
  /** JSON Schema of the task context; default `{ type: 'object' }`. */
  context_schema: Record<string, unknown>;
  /** The default policy of every step; defaults to {@link RETRY_POLICY_DEFAULTS}. */
  retry: RetryPolicy;
  /** At least one. */
  steps: StepTemplate[];
  /**
   * Events that start a task of this template (POST /v1/events), the event's payload as its
   * context. Absent when none, so the release before this one still reads the stored template.
   */
  triggers?: { event: string }[];
};

/** The retry policy of a template that gives none. */
export const RETRY_POLICY_DEFAULTS: Readonly<RetryPolicy> = Object.freeze({
  max_attempts: 3,
  backoff_base_ms: 1000,
  backoff_cap_ms: 60_000,
  jitter: true,
});

/** Default `timeout_ms` of a step. */
export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
/** Longest `timeout_ms` of a step: a day. Longer work belongs in several steps. */
export const MAX_STEP_TIMEOUT_MS = 86_400_000;

/** Names of namespaces, templates, steps, handlers and dependent systems: also queue names and metric labels. */
export const NAME_PATTERN = /^[a-z][a-z0-9_.-]{0,99}$/;
const NAME_MESSAGE =
  'must start with a lowercase letter, then up to 99 lowercase letters, digits, "_", "." or "-" (^[a-z][a-z0-9_.-]{0,99}$)';

const name = z.string().regex(NAME_PATTERN, NAME_MESSAGE);

const version = z.string().refine((value) => semver.valid(value) === value, {
  message: 'must be a strict semantic version such as "1.0.0"',
  params: { rule: 'semver' },
});

const jsonSchema = z.record(z.string(), z.unknown()).superRefine((schema, ctx) => {
  const problem = checkJsonSchema(schema);
  if (problem)
    ctx.addIssue({
      code: 'custom',
      message: `ajv cannot compile it: ${problem}`,
      params: { rule: 'json_schema' },
    });
});

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/** A retry policy as written: every field optional (it inherits); cap ≥ base is checked after merging. */
export const RetryPolicyInputSchema = z.strictObject({
  max_attempts: int(1, 100).optional(),
  backoff_base_ms: int(0).optional(),
  backoff_cap_ms: int(0).optional(),
  jitter: z.boolean().optional(),
});

const eventName = z
  .string()
  .max(200)
  .regex(EVENT_NAME_PATTERN, 'must be dotted lowercase words, e.g. "user.registered"');

/** A published event as written. */
export const PublishedEventInputSchema = z.strictObject({
  name: eventName,
  when: z.enum(['success', 'failure', 'permanent_failure', 'always']).optional(),
  schema: jsonSchema.nullable().optional(),
});

/** A step as written. */
export const StepTemplateInputSchema = z.strictObject({
  name,
  description: z.string().nullable().optional(),
  handler: name.optional(),
  depends_on: z.array(z.string()).optional(),
  dependent_system: name.optional(),
  retry: RetryPolicyInputSchema.optional(),
  timeout_ms: int(1, MAX_STEP_TIMEOUT_MS).optional(),
  handler_config: z.record(z.string(), z.unknown()).optional(),
  on_breaker_open: z.enum(['wait', 'fallback']).optional(),
  publishes: z.array(PublishedEventInputSchema).max(20).optional(),
  type: z.enum(STEP_TYPES).optional(),
  decides: z.array(z.string()).min(1).max(100).optional(),
  convergence: z.enum(['all', 'deferred']).optional(),
});

/** A template as written (YAML or builder). Cross-field rules live in template-checks.ts. */
export const TaskTemplateInputSchema = z.strictObject({
  namespace: name,
  name,
  version,
  description: z.string().nullable().optional(),
  default_dependent_system: name.nullable().optional(),
  identity_strategy: z.enum(['strict', 'caller_key', 'unique']).optional(),
  context_schema: jsonSchema.optional(),
  retry: RetryPolicyInputSchema.optional(),
  steps: z.array(StepTemplateInputSchema).min(1),
  triggers: z
    .array(z.strictObject({ event: eventName }))
    .max(20)
    .optional(),
});

/** What a template author writes: the same keys, optional where a default exists. */
export type TaskTemplateInput = z.input<typeof TaskTemplateInputSchema>;
/** What a template author writes for one step. */
export type StepTemplateInput = z.input<typeof StepTemplateInputSchema>;
/** What a template author writes for a retry policy. */
export type RetryPolicyInput = z.input<typeof RetryPolicyInputSchema>;

/** Turns zod issues into field issues with JSON-pointer paths and stable rule names. */
export function zodIssuesToFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.flatMap((issue) => {
    const path = toPointer(issue.path);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: `${path}/${escapeToken(key)}`,
        rule: 'unknown_key',
        message: `unknown key "${key}"`,
      }));
    }
    return [{ path, ...ruleAndMessage(issue) }];
  });
}

function ruleAndMessage(issue: z.core.$ZodIssue): { rule: string; message: string } {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return { rule: 'required', message: 'is required' };
      if (issue.expected === 'int') return { rule: 'integer', message: 'must be an integer' };
      return {
        rule: 'type',
        message: `must be ${article(issue.expected)} (got ${typeName(issue.input)}${yamlHint(issue)})`,
      };
    case 'too_small':
      return {
        rule: 'minimum',
        message: `must be ${bound(issue.origin, issue.inclusive ? '>=' : '>', issue.minimum)}`,
      };
    case 'too_big':
      return {
        rule: 'maximum',
        message: `must be ${bound(issue.origin, issue.inclusive ? '<=' : '<', issue.maximum)}`,
      };
    case 'invalid_value':
      return {
        rule: 'enum',
        message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'invalid_format':
      return { rule: issue.format === 'regex' ? 'pattern' : issue.format, message: issue.message };
    case 'custom':
      return { rule: String(issue.params?.rule ?? 'invalid'), message: issue.message };
    default:
      return { rule: issue.code, message: issue.message };
  }
}

/** YAML reads `version: 1.0` as a number; say how to get the string the user meant. */
function yamlHint(issue: z.core.$ZodIssueInvalidType): string {
  return issue.expected === 'string' && typeof issue.input === 'number' ? '; in YAML, quote it' : '';
}

function bound(origin: string, op: string, limit: number | bigint): string {
  if (origin === 'array') return `a list of ${op} ${limit} items`;
  if (origin === 'string') return `a text of ${op} ${limit} characters`;
  return `${op} ${limit}`;
}

function article(expected: string): string {
  const noun = expected === 'record' ? 'object' : expected;
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** JSON pointer (RFC 6901) of a zod path; `''` for the root. */
export function toPointer(path: readonly PropertyKey[]): string {
  return path.map((key) => `/${escapeToken(String(key))}`).join('');
}

function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}
