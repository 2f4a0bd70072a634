/**
 * Operators' overrides of a breaker: force open, force closed, or reset. Audited in
 * breaker_transitions with who and why.
 */
import { NotFoundError } from '@switchyard/core';
import { lockBreaker } from './breaker-state.ts';
import { type BreakerView, listBreakers } from './breaker-views.ts';
import type { Queryable } from './pool.ts';

const FORCE_STATE = {
  open: { state: 'open', forced: 'open' },
  close: { state: 'closed', forced: 'closed' },
  reset: { state: 'closed', forced: null },
} as const;

/**
 * An operator's override: force open, force closed, or reset (back to closed, decided by the
 * history again, trips and Retry-After hold cleared). Audited with who and why.
 * Locks: the breaker row.
 * @throws NotFoundError for a system no registered template's step calls and that has no
 *   breaker yet: a typo must not create a breaker (and a metric) for a service that does not exist.
 */
export async function forceBreaker(
  db: Queryable,
  input: { dependentSystem: string; action: 'open' | 'close' | 'reset'; actor: string; reason: string },
): Promise<BreakerView> {
  if (!(await dependentSystemExists(db, input.dependentSystem))) {
    throw new NotFoundError(
      `no registered template calls a dependent system named ${input.dependentSystem}, and it has no breaker`,
    );
  }
  const breaker = await lockBreaker(db, input.dependentSystem);
  const target = FORCE_STATE[input.action];
  await db.query(
    `WITH updated AS (
       UPDATE circuit_breakers
          SET state = $2, forced = $3, since = clock_timestamp(), next_probe_at = NULL, release_rate = 0,
              trip_count = CASE WHEN $4 THEN 0 ELSE trip_count END,
              hold_until = CASE WHEN $4 THEN NULL ELSE hold_until END, updated_at = clock_timestamp()
        WHERE dependent_system = $1 RETURNING dependent_system)
     INSERT INTO breaker_transitions (dependent_system, from_state, to_state, reason, actor, evidence)
     SELECT dependent_system, $5, $2, $6, $7, $8::jsonb FROM updated`,
    [
      input.dependentSystem,
      target.state,
      target.forced,
      input.action === 'reset',
      breaker.state,
      `${input.action} by operator: ${input.reason}`,
      input.actor,
      JSON.stringify({ action: input.action, reason: input.reason }),
    ],
  );
  const [view] = await listBreakers(db, { dependentSystem: input.dependentSystem });
  return view!;
}

/**
 * Whether a dependent system is known: it has a breaker row, or a step of a registered template
 * calls it (stored definitions carry each step's resolved `dependent_system`).
 */
export async function dependentSystemExists(db: Queryable, system: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM circuit_breakers WHERE dependent_system = $1)
         OR EXISTS (SELECT 1 FROM named_tasks nt, jsonb_array_elements(nt.definition->'steps') step
                     WHERE step->>'dependent_system' = $1) AS known`,
    [system],
  );
  return rows[0].known === true;
}
