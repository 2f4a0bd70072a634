/** Rules that span several variables, checked by `parseEnv` after each variable parsed on its own. */

/**
 * Whether every key starting with `prefix` hashes to one Redis Cluster slot: only the text
 * between the first `{` and the next `}` is hashed, when it is not empty.
 */
export function prefixHasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  const close = open === -1 ? -1 : prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * Rules across the common variables, applied by `parseEnv` to any schema holding them: a
 * cluster needs a hash-tagged queue prefix (BullMQ's scripts touch several keys of a queue at
 * once, which Redis Cluster refuses across slots).
 */
export function commonEnvProblems(env: Record<string, unknown>): { variable: string; rule: string }[] {
  const prefix = env.SWITCHYARD_QUEUE_PREFIX;
  if (env.REDIS_CLUSTER === true && typeof prefix === 'string' && !prefixHasHashTag(prefix)) {
    return [
      {
        variable: 'SWITCHYARD_QUEUE_PREFIX',
        rule: `must hold a hash tag such as {${prefix}} when REDIS_CLUSTER is true (every key of a queue in one slot)`,
      },
    ];
  }
  return [];
}
