import { nextReleaseRate } from '@switchyard/core';
import {
  type BreakerTransition,
  breakerSweepState,
  evaluateBreaker,
  type Pool,
  type ReadyStep,
  releaseHeldSteps,
  setReleaseRate,
  withTransaction,
} from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

export type BreakerSweepConfig = { pool: Pool; dispatcher: StepDispatcher; log: Logger; actor: string };

/**
 * The scheduler's part of the breakers: re-decide every breaker from the history (time moves
 * an open breaker to half-open without any traffic), then release held steps — as probes while
 * half-open (never more in flight than the policy allows), on a doubling ramp once closed.
 */
export async function sweepBreakers(
  config: BreakerSweepConfig,
): Promise<{ transitions: BreakerTransition[]; released: number }> {
  const transitions: BreakerTransition[] = [];
  for (const breaker of await breakerSweepState(config.pool)) {
    const { transition } = await withTransaction(config.pool, (client) =>
      evaluateBreaker(client, { dependentSystem: breaker.dependentSystem, actor: config.actor }),
    );
    if (transition) {
      transitions.push(transition);
      logTransition(config.log, transition);
    }
  }
  let released = 0;
  for (const breaker of await breakerSweepState(config.pool)) {
    const steps = await releaseFor(config, breaker);
    if (steps.length === 0) continue;
    await config.dispatcher.dispatch(steps);
    released += steps.length;
    config.log.info(
      { dependent_system: breaker.dependentSystem, released: steps.length, breaker: breaker.state },
      'released held steps',
    );
  }
  return { transitions, released };
}

type SweepState = Awaited<ReturnType<typeof breakerSweepState>>[number];

async function releaseFor(config: BreakerSweepConfig, breaker: SweepState): Promise<ReadyStep[]> {
  const { pool, actor } = config;
  const dependentSystem = breaker.dependentSystem;
  if (breaker.held === 0) {
    if (breaker.releaseRate !== 0) await setReleaseRate(pool, dependentSystem, 0);
    return [];
  }
  if (breaker.state === 'half_open') {
    const limit = breaker.policy.half_open_max_probes - breaker.probesInFlight;
    return releaseHeldSteps(pool, { dependentSystem, limit, asProbes: true, actor });
  }
  if (breaker.state !== 'closed' || breaker.holding) return [];
  const rate = nextReleaseRate(breaker.policy, breaker.releaseRate);
  await setReleaseRate(pool, dependentSystem, rate);
  return releaseHeldSteps(pool, { dependentSystem, limit: rate, asProbes: false, actor });
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
