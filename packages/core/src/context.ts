/**
 * Validation of a task's context against its template's JSON Schema (ajv 8 with ajv-formats).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import { canonicalJson } from './canonical.ts';
import { type FieldIssue, ValidationError } from './errors.ts';

// ajv-formats is CommonJS (`module.exports = plugin; exports.default = plugin`). Its types say
// the default import is the plugin, but some loaders hand over the module object instead.
const addFormats = ((addFormatsModule as { default?: FormatsPlugin }).default ??
  addFormatsModule) as unknown as FormatsPlugin;

/** Checks a context and returns one issue per failing field; empty when valid. */
export type ContextValidator = (context: unknown) => FieldIssue[];

/** The API validates every create; compiling costs ~1 ms, so validators are kept, at most this many. */
export const CONTEXT_VALIDATOR_CACHE_SIZE = 500;

const cache = new Map<string, ContextValidator>();

/**
 * Compiles (or fetches from the bounded cache, keyed by the schema's canonical JSON) a validator.
 * Issue paths are ajv's `instancePath` (`''` for the root) plus the property for `required` and
 * `additionalProperties`; the rule is the ajv keyword (`required`, `format`, `type`, `enum`...).
 * @throws ValidationError (rule `json_schema`) when the schema does not compile.
 */
export function compileContextValidator(schema: Record<string, unknown>): ContextValidator {
  const key = canonicalJson(schema);
  const cached = cache.get(key);
  if (cached) {
    // Re-insert so the Map's insertion order doubles as least-recently-used order.
    cache.delete(key);
    cache.set(key, cached);
    return cached;
  }
  const validator = toContextValidator(compileSchema(schema));
  cache.set(key, validator);
  if (cache.size > CONTEXT_VALIDATOR_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return validator;
}

/**
 * Checks a task context against a template's schema and returns it with the schema's
 * `default`s filled in (on a copy; the caller's object is left alone).
 * @throws ValidationError `invalid task context: /email: must match format "email" (format); ...`
 */
export function validateContext<T = unknown>(schema: Record<string, unknown>, context: T): T {
  const copy = structuredClone(context);
  const issues = compileContextValidator(schema)(copy);
  if (issues.length > 0) throw new ValidationError('invalid task context', issues);
  return copy;
}

/** Returns why ajv cannot compile the schema, or null when it can. Used when a template is parsed. */
export function checkJsonSchema(schema: Record<string, unknown>): string | null {
  try {
    compileSchema(schema);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  // A fresh Ajv per schema: a shared instance keeps every compiled schema forever (its cache is
  // keyed by object identity) and rejects a second schema with the same `$id`. Our own cache is
  // the bounded one.
  // useDefaults: a property the schema gives a `default` is filled in when missing.
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

function toContextValidator(validate: ValidateFunction): ContextValidator {
  return (context) => {
    if (validate(context)) return [];
    const issues = new Map<string, FieldIssue>();
    for (const error of validate.errors ?? []) {
      const issue = toFieldIssue(error);
      // allErrors may report several keywords for one field (type and enum, anyOf branches);
      // the first one is the most direct, and one message per field reads best.
      if (!issues.has(issue.path)) issues.set(issue.path, issue);
    }
    return [...issues.values()];
  };
}

function toFieldIssue(error: ErrorObject): FieldIssue {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') {
    return {
      path: `${error.instancePath}/${pointerToken(params.missingProperty)}`,
      rule: 'required',
      message: 'is required',
    };
  }
  if (error.keyword === 'additionalProperties') {
    const path = `${error.instancePath}/${pointerToken(params.additionalProperty)}`;
    return { path, rule: 'additionalProperties', message: 'is not allowed' };
  }
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    const allowed = params.allowedValues.map((value) => JSON.stringify(value)).join(', ');
    return { path: error.instancePath, rule: 'enum', message: `must be one of ${allowed}` };
  }
  return {
    path: error.instancePath,
    rule: error.keyword,
    message: error.message ?? `fails ${error.keyword}`,
  };
}

/** Escapes a property name as one JSON-pointer token (RFC 6901: `~` → `~0`, `/` → `~1`). */
function pointerToken(name: unknown): string {
  return String(name).replaceAll('~', '~0').replaceAll('/', '~1');
}
