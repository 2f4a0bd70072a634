/**
 * Secrets out of what the API shows: values whose key names a secret are replaced, at any
 * depth, before a task's context, results or errors leave the server. Matched on key names
 * because values carry no type; the list errs on the side of hiding (a `token_count` is hidden
 * too), since an operator can always read the row itself with database access.
 */

/** What a redacted value reads as. */
export const REDACTED = '[redacted]';

// password, passwd, secret, token (access_token, refreshToken), api key in any spelling,
// authorization, credentials, private keys, cookies, card numbers, CVV/CVC, social security numbers.
const SECRET_KEY =
  /pass(word|wd)|secret|token|api[-_ ]?key|authori[sz]ation|credential|private[-_ ]?key|cookie|card|cvv|cvc|\bssn\b|^pin$/i;

/** True when a value under this key is to be hidden. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A copy of `value` with the value of every secret-named key replaced by {@link REDACTED}. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, isSecretKey(key) ? REDACTED : redactSecrets(inner)]),
  );
}

/** A task (or task-like object with steps) with its context, results and errors redacted. */
export function redactTask<
  T extends { context?: unknown; steps?: { results: unknown; lastError: unknown }[] },
>(task: T): T {
  return {
    ...task,
    ...('context' in task ? { context: redactSecrets(task.context) } : {}),
    ...(task.steps
      ? {
          steps: task.steps.map((step) => ({
            ...step,
            results: redactSecrets(step.results),
            lastError: redactSecrets(step.lastError),
          })),
        }
      : {}),
  };
}
