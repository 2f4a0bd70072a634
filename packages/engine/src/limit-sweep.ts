import { LIMIT_RELEASE_HORIZON_MS } from '@switchyard/core';
import {
  type Pool,
  type ReleasedStep,
  releaseLimitWaiters,
  releaseLimitWaitersToFallback,
  systemsWithLimitWaiters,
  withTransaction,
} from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

export type LimitSweepConfig = { pool: Pool; dispatcher: StepDispatcher; log: Logger; actor: string };

/**
 * The scheduler's safety net for the bulkheads: for every limited system with steps waiting,
 * release those the free slots and the tokens due within the horizon admit (limit-claims.ts).
 * Workers release right after a limited step finishes; this covers a worker that died first, a
 * lease that expired, and tokens that come due with time. First it lets the waiting steps that
 * would run their fallback (the system's breaker opened while they waited) go: no limit holds a
 * fallback.
 */
export async function sweepLimits(config: LimitSweepConfig): Promise<{ released: number }> {
  let released = 0;
  for (const dependentSystem of await systemsWithLimitWaiters(config.pool)) {
    released += await releaseToFallback(config, dependentSystem);
    released += await releaseWaitersOf(config, dependentSystem);
  }
  return { released };
}

async function releaseToFallback(config: LimitSweepConfig, dependentSystem: string): Promise<number> {
  const { pool, actor } = config;
  const steps = await releaseLimitWaitersToFallback(pool, { dependentSystem, actor });
  return dispatchReleased(config, dependentSystem, steps, 'to run their fallback (breaker open)');
}

/** Dispatches released steps (committed), logs them, and returns how many there were. */
async function dispatchReleased(
  config: LimitSweepConfig,
  dependentSystem: string,
  steps: ReleasedStep[],
  why: string,
): Promise<number> {
  if (steps.length === 0) return 0;
  await config.dispatcher.dispatch(steps);
  config.log.info(
    { dependent_system: dependentSystem, released: steps.length },
    `released steps waiting for a limit ${why}`,
  );
  return steps.length;
}

/**
 * Releases what one system's limit admits now and dispatches it after commit: one transaction
 * under the system's limit row's lock. Namespaces share the release by the weights the
 * dispatcher shares queues by (SWITCHYARD_NAMESPACE_WEIGHTS). Also run when an operator changes a limit, so raising it
 * starts waiting steps at once rather than at the next sweep. Returns how many were released.
 */
export async function releaseWaitersOf(config: LimitSweepConfig, dependentSystem: string): Promise<number> {
  const { pool, actor, dispatcher } = config;
  const steps = await withTransaction(pool, (client) =>
    releaseLimitWaiters(client, {
      dependentSystem,
      actor,
      horizonMs: LIMIT_RELEASE_HORIZON_MS,
      namespaceWeights: dispatcher.namespaceWeights,
    }),
  );
  return dispatchReleased(config, dependentSystem, steps, 'that the limit admits');
}
