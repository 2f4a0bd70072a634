/**
 * Building blocks for each app's one zod env schema. Every helper reads a string variable
 * (absent or empty both mean "not set") and yields a typed value, with a rule that names what
 * is accepted, so a bad deployment fails at start with every mistake listed at once.
 */
import { z } from 'zod';
import { commonEnvProblems } from './rules.ts';

const TRUE_WORDS = ['true', '1', 'yes'];
const FALSE_WORDS = ['false', '0', 'no'];
const BOOLEAN_RULE = `must be one of ${[...TRUE_WORDS, ...FALSE_WORDS].join(', ')} (any case)`;

/** Absent and empty (`NAME=` in an env file) are both "not set". */
function isUnset(value: string | undefined): value is undefined | '' {
  return value === undefined || value.trim() === '';
}

/** A short quote of a bad value for the message (these helpers never see secrets but URLs). */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/**
 * A boolean variable: `true`/`false`, `1`/`0`, `yes`/`no` in any case; `default` when not set.
 * Unlike `z.coerce.boolean()`, `"false"` is false and `"flase"` is an error, not true.
 */
export function envBoolean(defaultValue: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx): boolean => {
      if (isUnset(value)) return defaultValue;
      const word = value.trim().toLowerCase();
      if (TRUE_WORDS.includes(word)) return true;
      if (FALSE_WORDS.includes(word)) return false;
      ctx.addIssue({ code: 'custom', message: `${BOOLEAN_RULE}, got ${quoted(value)}` });
      return z.NEVER;
    });
}

export type EnvIntOptions = {
  /** Smallest accepted value (inclusive). Default: no bound. */
  min?: number;
  /** Largest accepted value (inclusive). Default: no bound. */
  max?: number;
  /** Value when not set. Without one the variable is required. */
  default?: number;
};

function intRule({ min, max }: EnvIntOptions): string {
  if (min !== undefined && max !== undefined) return `must be an integer between ${min} and ${max}`;
  if (min !== undefined) return `must be an integer ≥ ${min}`;
  if (max !== undefined) return `must be an integer ≤ ${max}`;
  return 'must be an integer';
}

/** An integer variable in `[min, max]`; decimals, units (`10s`) and exponents are refused. */
export function envInt(options: EnvIntOptions = {}) {
  const rule = intRule(options);
  return z
    .string()
    .optional()
    .transform((value, ctx): number => {
      if (isUnset(value)) {
        if (options.default !== undefined) return options.default;
        ctx.addIssue({ code: 'custom', message: `is required (${rule.replace('must be ', '')})` });
        return z.NEVER;
      }
      const parsed = /^[+-]?\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
      const inRange =
        Number.isSafeInteger(parsed) &&
        (options.min === undefined || parsed >= options.min) &&
        (options.max === undefined || parsed <= options.max);
      if (inRange) return parsed;
      ctx.addIssue({ code: 'custom', message: `${rule}, got ${quoted(value)}` });
      return z.NEVER;
    });
}

/** A comma-separated list, items trimmed, empty items dropped; `[]` when not set. */
export function envList() {
  return z
    .string()
    .optional()
    .transform((value): string[] =>
      isUnset(value)
        ? []
        : value
            .split(',')
            .map((item) => item.trim())
            .filter((item) => item !== ''),
    );
}

/**
 * An absolute URL, returned as the string given; `defaultValue` when not set, required without
 * one. The value is never echoed in the error, since URLs carry credentials.
 */
export function envUrl(defaultValue?: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx): string => {
      if (isUnset(value)) {
        if (defaultValue !== undefined) return defaultValue;
        ctx.addIssue({ code: 'custom', message: 'is required (a URL such as scheme://host:port/path)' });
        return z.NEVER;
      }
      const url = value.trim();
      // `host:port` parses as a URL whose scheme is the host, so insist on `scheme://`.
      if (/^[a-z][a-z\d+.-]*:\/\//i.test(url) && URL.canParse(url)) return url;
      ctx.addIssue({ code: 'custom', message: 'must be an absolute URL such as scheme://host:port/path' });
      return z.NEVER;
    });
}

/** One invalid variable and the rule it broke. */
export type EnvProblem = { variable: string; rule: string };

/**
 * The environment does not satisfy the app's schema. Its `name` is `ConfigError`, as core's
 * ConfigError: mains treat both as "misconfigured, exit at start". The message lists every
 * problem as a `NAME: rule` line.
 */
export class EnvConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly EnvProblem[];

  constructor(problems: EnvProblem[]) {
    const lines = problems.map((problem) => `  ${problem.variable}: ${problem.rule}`);
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

function toProblem(issue: z.core.$ZodIssue, env: Env): EnvProblem {
  const variable = issue.path.length > 0 ? issue.path.map(String).join('.') : '(environment)';
  // zod's own wording for an absent variable is "expected string, received undefined".
  const missing = issue.code === 'invalid_type' && issue.path.length === 1 && env[variable] === undefined;
  return { variable, rule: missing ? 'is required' : issue.message };
}

/**
 * Parses `env` (default `process.env`) with an app's env schema, then applies the rules across
 * the common variables (see rules.ts).
 *
 * @throws EnvConfigError listing every invalid variable, not just the first.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (!result.success) throw new EnvConfigError(result.error.issues.map((issue) => toProblem(issue, env)));
  const problems = commonEnvProblems(result.data as Record<string, unknown>);
  if (problems.length > 0) throw new EnvConfigError(problems);
  return result.data;
}

/**
 * For a process's main: parses the env, or prints every problem (not a stack trace) to stderr
 * and exits with status 78 (EX_CONFIG), so a misconfigured container fails fast and legibly.
 */
export function parseEnvOrExit<S extends z.ZodType>(schema: S, env: Env = process.env): z.output<S> {
  try {
    return parseEnv(schema, env);
  } catch (err) {
    if (!(err instanceof EnvConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
}

/** An optional absolute URL: null when unset or empty, an error naming the rule when malformed. */
export function envOptionalUrl() {
  return z
    .string()
    .optional()
    .transform((value, ctx): string | null => {
      if (isUnset(value)) return null;
      const url = value.trim();
      if (/^[a-z][a-z\d+.-]*:\/\//i.test(url) && URL.canParse(url)) return url;
      ctx.addIssue({ code: 'custom', message: 'must be an absolute URL such as scheme://host:port/path' });
      return z.NEVER;
    });
}

const WEIGHTS_RULE =
  'must be a JSON object of namespace names to positive numbers, e.g. {"tenant_a":1,"tenant_b":3}';

/**
 * Namespace weights for sharing worker slots (`{"tenant_a":1,"tenant_b":3}`); a namespace not
 * named has weight 1. Not set: every namespace weighs 1.
 */
export function envNamespaceWeights() {
  return z
    .string()
    .optional()
    .transform((value, ctx): Record<string, number> => {
      if (isUnset(value)) return {};
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
      const valid =
        typeof parsed === 'object' &&
        parsed !== null &&
        !Array.isArray(parsed) &&
        Object.values(parsed).every((w) => typeof w === 'number' && Number.isFinite(w) && w > 0);
      if (!valid) {
        ctx.addIssue({ code: 'custom', message: `${WEIGHTS_RULE}, got ${quoted(value)}` });
        return z.NEVER;
      }
      return parsed as Record<string, number>;
    });
}
