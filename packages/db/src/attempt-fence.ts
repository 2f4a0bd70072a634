/**
 * The attempt convention and the fence, in SQL (the convention is @switchyard/core's
 * attempts.ts). A step's `attempts` counts the attempts started. The delivery of attempt N may
 * claim only while `attempts = N - 1`, and only the claimer of attempt N (`claimed_by`, while the
 * step is `in_progress` with `attempts = N`) may record its outcome or renew its lease. A
 * duplicate, late or stale message therefore matches no row and changes nothing.
 *
 * Each function takes the alias of the workflow_steps row (or '' for none) and SQL expressions.
 */

function column(alias: string, name: string): string {
  return alias ? `${alias}.${name}` : name;
}

/** The attempt a dispatch of the step carries: one more than the attempts it has made. */
export function nextAttemptSql(alias = ''): string {
  return `${column(alias, 'attempts')} + 1`;
}

/** The attempts that count against max_attempts (handed-back ones do not). */
export function countedAttemptsSql(alias = ''): string {
  return `${column(alias, 'attempts')} - ${column(alias, 'uncounted_attempts')}`;
}

/** The step may be claimed by the delivery of `attempt`. */
export function claimableBySql(alias: string, attempt: string): string {
  return `${column(alias, 'attempts')} = ${attempt} - 1`;
}

/**
 * The claimer `worker` of attempt `attempt` still holds the step. The status test is written
 * `(...) IS TRUE` so that no status index can serve it: rows are found by primary key (see the
 * claim statement in step-attempts.ts for the measurement).
 */
export function heldByClaimerSql(alias: string, attempt: string, worker: string): string {
  return `${column(alias, 'attempts')} = ${attempt} AND (${column(alias, 'status')} = 'in_progress') IS TRUE AND ${column(alias, 'claimed_by')} = ${worker}`;
}

/** {@link heldByClaimerSql} on a step row already read (and locked) by the caller. */
export function heldByClaimer(
  step: { status: string; attempts: number; claimedBy: string | null },
  attempt: number,
  worker: string,
): boolean {
  return step.attempts === attempt && step.status === 'in_progress' && step.claimedBy === worker;
}
