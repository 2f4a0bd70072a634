/**
 * The attempt convention, named once. A step's `attempts` counts the attempts started (claimed);
 * attempt numbers are 1-based. So a step that has made `attempts` attempts is dispatched for
 * attempt `attempts + 1`, and a delivery for attempt N may claim only while `attempts = N - 1`.
 * packages/db renders the same convention in SQL (attempt-fence.ts).
 */

/** The attempt a dispatch of a step carries, given the attempts it has made. */
export function nextAttempt(attemptsMade: number): number {
  return attemptsMade + 1;
}

/** The attempts a step has made when a delivery for `attempt` may claim it. */
export function attemptsBefore(attempt: number): number {
  return attempt - 1;
}

/**
 * How many of a step's attempts count against its max_attempts: attempts handed back (a
 * shutdown, a hold after a failure while the breaker was open, those before an operator retry)
 * do not.
 */
export function countedAttempts(attempts: number, uncountedAttempts: number): number {
  return attempts - uncountedAttempts;
}
