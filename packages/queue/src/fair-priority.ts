/**
 * Start-time fair queueing on BullMQ priorities. A step type's queue is not FIFO across
 * namespaces: a job's priority grows with the jobs its namespace already has outstanding in
 * that queue, divided by the namespace's weight, so a namespace with nothing queued goes ahead
 * of another's backlog. Within one round, a higher task `priority` goes first.
 *
 * The outstanding counts are a Redis hash per queue, one field per namespace and task priority
 * (a job's round counts only the jobs of its namespace at its own priority, so a high-priority
 * task is not queued behind its namespace's low-priority backlog), incremented at dispatch and decremented when a worker takes the job. They are an approximation only: a
 * flush resets them and ordering is briefly FIFO again; correctness stays in Postgres.
 */

/** BullMQ's largest priority (2^21); 1 is taken first, 0 means "not prioritized". */
export const MAX_BULLMQ_PRIORITY = 2 ** 21;
/** Task priorities are clamped to [-PRIORITY_SPAN, PRIORITY_SPAN] inside one round. */
export const PRIORITY_SPAN = 50;
const ROUND = 2 * PRIORITY_SPAN + 1;

/** Key of a queue's per-namespace outstanding counts. */
export function fairCountsKey(prefix: string, queueName: string): string {
  return `${prefix}:${queueName}:fair-outstanding`;
}

/**
 * The BullMQ priority of a job whose namespace has `outstanding` jobs already queued (this
 * one not counted), with the namespace's `weight` and the task's `priority` (higher first).
 */
export function fairPriority(outstanding: number, weight: number, taskPriority: number): number {
  const round = Math.floor(Math.max(0, outstanding) / weight);
  const within = PRIORITY_SPAN - clampPriority(taskPriority);
  return Math.min(MAX_BULLMQ_PRIORITY, 1 + round * ROUND + within);
}

/** The hash field counting a namespace's outstanding jobs of one task priority. */
export function fairCounter(namespace: string, taskPriority: number): string {
  return `${clampPriority(taskPriority)}:${namespace}`;
}

function clampPriority(taskPriority: number): number {
  return Math.max(-PRIORITY_SPAN, Math.min(PRIORITY_SPAN, Math.trunc(taskPriority)));
}

/** Weight of `namespace` (1 when not named). */
export function weightOf(weights: Readonly<Record<string, number>>, namespace: string): number {
  const weight = weights[namespace];
  return weight !== undefined && weight > 0 ? weight : 1;
}
