/**
 * @switchyard/core's breaker and hold rules (holds.ts) rendered in SQL, for the statements that
 * must decide inside Postgres: the claim reads the breaker row in the same statement, and the
 * evidence is counted over step_attempts. Built from core's lists, so the two cannot drift; a
 * test runs BLOCKED_BY_BREAKER against core's blockingHold.
 */
import { SERVICE_CALL_OUTCOMES, SERVICE_FAILURE_OUTCOMES } from '@switchyard/core';

/** A SQL list literal, `('a', 'b')`, of trusted constant strings. */
export function sqlList(values: readonly string[]): string {
  return `(${values.map((value) => `'${value.replaceAll("'", "''")}'`).join(', ')})`;
}

/** Outcomes that were calls to the service. */
export const CALL_OUTCOMES = sqlList(SERVICE_CALL_OUTCOMES);

/** Outcomes that count against the service. */
export const FAILURE_OUTCOMES = sqlList(SERVICE_FAILURE_OUTCOMES);

/** SQL predicate: the breaker `b` keeps step `s` from calling its service now (core's blockingHold). */
export const BLOCKED_BY_BREAKER = `(b.state = 'open' OR (b.state = 'half_open' AND NOT s.probe) OR b.hold_until > clock_timestamp())`;

/** SQL: why breaker `b` holds a step it blocks (core's blockingHold). */
export const HOLD_REASON = `CASE WHEN b.state = 'closed' THEN 'service asked to retry later' ELSE 'breaker ' || b.state END`;

/** SQL: until when breaker `b` holds a step it blocks; GREATEST ignores a null (core's blockingHold). */
export const HOLD_UNTIL = `CASE WHEN b.state = 'closed' THEN b.hold_until ELSE GREATEST(b.next_probe_at, b.hold_until) END`;
