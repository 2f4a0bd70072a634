/**
 * What a dispatch message carries: a pointer, never the step's data. The worker loads the row
 * and checks the fence (`attempt`) before doing anything, so a stale or duplicate message
 * changes nothing.
 */
export type StepJobPayload = {
  stepId: string;
  taskId: string;
  /** The attempt this message dispatches (1-based); the claim succeeds only for this attempt. */
  attempt: number;
  /** Fair-queueing counter this job was counted in (namespace and priority); the taker decrements it. */
  fair?: string;
};

/** One step attempt to dispatch. */
export type StepDispatch = StepJobPayload & {
  handler: string;
  /** Milliseconds to hold the job before delivery (retries with backoff). */
  delayMs?: number;
  /** The task's namespace; without it the job is queued in the shared default namespace. */
  namespace?: string;
  /** The task's priority (higher first within a namespace); default 0. */
  priority?: number;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a message is a step pointer this worker can claim: ids are UUIDs, attempt ≥ 1. */
export function isStepJobPayload(value: unknown): value is StepJobPayload {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.stepId === 'string' &&
    UUID.test(v.stepId) &&
    typeof v.taskId === 'string' &&
    UUID.test(v.taskId) &&
    Number.isInteger(v.attempt) &&
    (v.attempt as number) >= 1
  );
}
