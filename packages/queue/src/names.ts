/**
 * Queue naming. One BullMQ queue per step type (the handler name), so operators can scale
 * workers per step type and read each queue's depth as its autoscaling signal.
 */

/** Default BullMQ key prefix; override per deployment (and per test) with `prefix`. */
export const DEFAULT_QUEUE_PREFIX = 'switchyard';

/** The queue a step of this handler is dispatched on. */
export function queueNameForHandler(handler: string): string {
  return `step.${handler}`;
}

/**
 * Deterministic job id per (step, attempt): re-dispatching an attempt that is already queued
 * is a no-op in BullMQ, which makes "dispatch after commit" and the scheduler's repairs safe
 * to repeat. BullMQ rejects ids containing ':', hence the dot.
 */
export function stepJobId(stepId: string, attempt: number): string {
  return `${stepId}.${attempt}`;
}

/**
 * Pub/sub channel on which cancellations are announced, so workers abort a cancelled task's
 * running handlers at once instead of at their next lease renewal.
 */
export function cancellationChannel(prefix: string = DEFAULT_QUEUE_PREFIX): string {
  return `${prefix}:cancellations`;
}

/**
 * The Redis key that holds a step type's ready jobs: the ones no worker has taken yet, without
 * retries waiting for their backoff (BullMQ keeps those in `delayed`). Fair queueing gives every
 * job a BullMQ priority, and BullMQ keeps prioritized jobs in this sorted set, not in its `wait`
 * list. It is what an autoscaler reads (KEDA's redis trigger counts a sorted set with ZCARD).
 */
export function readyJobsKey(prefix: string, handler: string): string {
  return `${prefix}:${queueNameForHandler(handler)}:prioritized`;
}
