import {
  type BreakerTransition,
  breakerSystems,
  evaluateBreaker,
  type Pool,
  releaseHeldDeliveries,
  releaseHeldForBreaker,
  withTransaction,
} from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

export type BreakerSweepConfig = { pool: Pool; dispatcher: StepDispatcher; log: Logger; actor: string };

/**
 * The scheduler's part of the breakers: re-decide every breaker from the history (time moves
 * an open breaker to half-open without any traffic), then release held steps — as probes while
 * half-open (never more in flight than the policy allows), on a doubling ramp once closed.
 * A webhook receiver's breaker (kind `webhook`) is decided the same way from its delivery
 * attempts, and releases held deliveries instead of steps.
 * Each system is one transaction under its breaker row's lock.
 */
export async function sweepBreakers(
  config: BreakerSweepConfig,
): Promise<{ transitions: BreakerTransition[]; released: number }> {
  const { pool, dispatcher, log, actor } = config;
  const transitions: BreakerTransition[] = [];
  let released = 0;
  for (const { dependentSystem, kind } of await breakerSystems(pool)) {
    const { transition } = await withTransaction(pool, (client) =>
      evaluateBreaker(client, { dependentSystem, actor }),
    );
    if (transition) {
      transitions.push(transition);
      logTransition(log, transition);
    }
    if (kind === 'webhook') {
      // A webhook receiver: its held deliveries, not steps (the delivery loop claims them).
      const deliveries = await withTransaction(pool, (client) =>
        releaseHeldDeliveries(client, dependentSystem),
      );
      released += deliveries.released;
      continue;
    }
    const release = await withTransaction(pool, (client) =>
      releaseHeldForBreaker(client, dependentSystem, actor),
    );
    if (release.released.length === 0) continue;
    await dispatcher.dispatch(release.released);
    released += release.released.length;
    log.info(
      { dependent_system: dependentSystem, released: release.released.length, breaker: release.state },
      'released held steps',
    );
  }
  return { transitions, released };
}

function logTransition(log: Logger, transition: BreakerTransition): void {
  const { dependentSystem, from, to, reason, nextProbeAt } = transition;
  log.warn(
    {
      dependent_system: dependentSystem,
      breaker_from: from,
      breaker_to: to,
      reason,
      next_probe_at: nextProbeAt,
    },
    `breaker ${to}`,
  );
}
