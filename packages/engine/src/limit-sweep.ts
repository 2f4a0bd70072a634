import { LIMIT_RELEASE_HORIZON_MS } from '@switchyard/core';
import { type Pool, releaseLimitWaiters, systemsWithLimitWaiters, withTransaction } from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

export type LimitSweepConfig = { pool: Pool; dispatcher: StepDispatcher; log: Logger; actor: string };

/**
 * The scheduler's safety net for the bulkheads: for every limited system with steps waiting,
 * release those the free slots and the tokens due within the horizon admit (limit-claims.ts).
 * Workers release right after a limited step finishes; this covers a worker that died first, a
 * lease that expired, and tokens that come due with time.
 */
export async function sweepLimits(config: LimitSweepConfig): Promise<{ released: number }> {
  let released = 0;
  for (const dependentSystem of await systemsWithLimitWaiters(config.pool)) {
    released += await releaseWaitersOf(config, dependentSystem);
  }
  return { released };
}

/**
 * Releases what one system's limit admits now and dispatches it after commit: one transaction
 * under the system's limit row's lock. Also run when an operator changes a limit, so raising it
 * starts waiting steps at once rather than at the next sweep. Returns how many were released.
 */
export async function releaseWaitersOf(config: LimitSweepConfig, dependentSystem: string): Promise<number> {
  const { pool, dispatcher, log, actor } = config;
  const steps = await withTransaction(pool, (client) =>
    releaseLimitWaiters(client, { dependentSystem, actor, horizonMs: LIMIT_RELEASE_HORIZON_MS }),
  );
  if (steps.length === 0) return 0;
  await dispatcher.dispatch(steps);
  log.info(
    { dependent_system: dependentSystem, released: steps.length },
    'released steps waiting for a limit',
  );
  return steps.length;
}
