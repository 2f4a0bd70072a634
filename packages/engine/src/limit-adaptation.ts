import { decideAdaptiveLimit } from '@switchyard/core';
import {
  lockAdaptiveLimitsDue,
  readAdaptiveWindow,
  recordAdaptiveDecision,
  withTransaction,
} from '@switchyard/db';
import { type LimitSweepConfig, releaseWaitersOf } from './limit-sweep.ts';

/**
 * A window spans this many judgement periods: long enough to hold a few calls of a slow service,
 * short enough that the limit follows it within seconds. Calls started before the last change of
 * the limit are left out, so a change is judged on what it did, never twice on the same calls.
 */
export const ADAPTIVE_WINDOW_PERIODS = 10;

/**
 * A window is never shorter than this (ms), however short the period: a slow service answers a
 * few calls a second, and a window needs ADAPTIVE_LIMIT_RULES.minCalls of them to say anything.
 */
export const ADAPTIVE_MIN_WINDOW_MS = 5_000;

/**
 * The adaptive limiter's turn in a sweep: judges every adaptive system not judged for `everyMs`
 * (decideAdaptiveLimit in @switchyard/core) and puts the decision in force with its evidence, in
 * one transaction under the systems' limit rows. A limit that rose releases its waiting steps at
 * once, as an operator's raise does. Returns the systems whose limit moved.
 */
export async function adaptLimits(
  config: LimitSweepConfig & { everyMs: number },
): Promise<{ dependentSystem: string; from: number; to: number; reason: string }[]> {
  const windowMs = Math.max(config.everyMs * ADAPTIVE_WINDOW_PERIODS, ADAPTIVE_MIN_WINDOW_MS);
  const moved = await withTransaction(config.pool, async (client) => {
    const changes: { dependentSystem: string; from: number; to: number; reason: string }[] = [];
    for (const candidate of await lockAdaptiveLimitsDue(client, { everyMs: config.everyMs })) {
      const { dependentSystem } = candidate;
      const window = await readAdaptiveWindow(client, {
        dependentSystem,
        windowMs,
        since: candidate.changedAt,
      });
      const decision = decideAdaptiveLimit(candidate, window);
      await recordAdaptiveDecision(client, { dependentSystem, decision, actor: config.actor });
      if (decision && decision.limit !== candidate.limit)
        changes.push({ dependentSystem, from: candidate.limit, to: decision.limit, reason: decision.reason });
    }
    return changes;
  });
  for (const change of moved) {
    config.log.info(
      { dependent_system: change.dependentSystem, from: change.from, to: change.to, reason: change.reason },
      'adaptive limit changed',
    );
    if (change.to > change.from) await releaseWaitersOf(config, change.dependentSystem);
  }
  return moved;
}
