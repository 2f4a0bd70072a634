/**
 * Bulkheads, pure: a dependent system's limit (calls in flight across the fleet, calls per
 * second with a burst), the token bucket's arithmetic, and how many waiting steps a sweep or a
 * finished step releases, and when. packages/db counts the calls in flight and keeps the bucket
 * under the limit row's lock; the claim statement applies the same rules in SQL.
 */
import { z } from 'zod';

/** A limit as configured (beside the breaker policy) or set by an operator. Every key is optional. */
export const ServiceLimitInputSchema = z
  .strictObject({
    /** Calls of the system in flight at once across the whole fleet. Default: no limit. */
    max_concurrent: z.number().int().min(1).max(1_000_000).optional(),
    /** Calls started per second across the fleet. Default: no limit. */
    rate: z.number().gt(0).max(1_000_000).optional(),
    /** Calls that may start at once after a quiet spell (the bucket's size). Default: ceil(rate). */
    burst: z.number().int().min(1).max(1_000_000).optional(),
    /**
     * Let the scheduler move `max_concurrent` between bounds from the system's recorded attempts
     * (adaptive-limits.ts): `true` for the bounds 1..max_concurrent, or `{ min, max }`.
     * `max_concurrent` is where it starts. Default: off, the limit stays as configured.
     */
    adaptive: z
      .union([
        z.boolean(),
        z.strictObject({
          min: z.number().int().min(1).max(1_000_000).optional(),
          max: z.number().int().min(1).max(1_000_000).optional(),
        }),
      ])
      .optional(),
  })
  .superRefine((input, ctx) => {
    if (input.burst !== undefined && input.rate === undefined) {
      ctx.addIssue({ code: 'custom', path: ['burst'], message: 'burst needs a rate' });
    }
    if (input.adaptive && input.max_concurrent === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['adaptive'],
        message: 'adaptive needs max_concurrent (where it starts)',
      });
    }
    if (typeof input.adaptive === 'object') {
      const min = input.adaptive.min ?? 1;
      const max = input.adaptive.max ?? input.max_concurrent ?? min;
      if (min > max)
        ctx.addIssue({ code: 'custom', path: ['adaptive'], message: `min ${min} is above max ${max}` });
    }
  });
export type ServiceLimitInput = z.input<typeof ServiceLimitInputSchema>;

/**
 * The limit in force; null fields are not limited. `adaptive`: the bounds the scheduler moves
 * `maxConcurrent` between (configured limits only; absent or null: static).
 */
export type ServiceLimit = {
  maxConcurrent: number | null;
  rate: number | null;
  burst: number | null;
  adaptive?: AdaptiveBounds | null;
};

/** Bounds of an adaptive concurrency limit (both inclusive). */
export type AdaptiveBounds = { min: number; max: number };

export const NO_SERVICE_LIMIT: ServiceLimit = { maxConcurrent: null, rate: null, burst: null };

/** The keys of a system's policy that are its limit; the rest are its breaker policy. */
export const SERVICE_LIMIT_KEYS = ['max_concurrent', 'rate', 'burst', 'adaptive'] as const;

/** @throws z.ZodError naming the field and the rule. */
export function resolveServiceLimit(input: ServiceLimitInput = {}): ServiceLimit {
  const parsed = ServiceLimitInputSchema.parse(input);
  const rate = parsed.rate ?? null;
  const maxConcurrent = parsed.max_concurrent ?? null;
  const limit: ServiceLimit = {
    maxConcurrent,
    rate,
    burst: rate === null ? null : (parsed.burst ?? Math.max(1, Math.ceil(rate))),
  };
  if (parsed.adaptive && maxConcurrent !== null) {
    const bounds = typeof parsed.adaptive === 'object' ? parsed.adaptive : {};
    limit.adaptive = { min: bounds.min ?? 1, max: bounds.max ?? maxConcurrent };
  }
  return limit;
}

export function isLimited(limit: ServiceLimit): boolean {
  return limit.maxConcurrent !== null || limit.rate !== null;
}

/**
 * Splits one system's entry of the policies (SWITCHYARD_BREAKER_POLICIES) into its breaker
 * policy and its limit: `{ open_ms: 60000, max_concurrent: 4 }` configures both.
 */
export function splitSystemPolicy(entry: Readonly<Record<string, unknown>>): {
  breaker: Record<string, unknown>;
  limit: Record<string, unknown> | null;
} {
  const breaker: Record<string, unknown> = {};
  const limit: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entry)) {
    if ((SERVICE_LIMIT_KEYS as readonly string[]).includes(key)) limit[key] = value;
    else breaker[key] = value;
  }
  return { breaker, limit: Object.keys(limit).length > 0 ? limit : null };
}

/**
 * Why a step waits for its system's limit, stored as its hold reason: `concurrency` (as many
 * calls in flight as the limit allows) or `rate` (no token in the bucket).
 */
export const LIMIT_HOLD_REASONS = ['concurrency', 'rate'] as const;
export type LimitHoldReason = (typeof LIMIT_HOLD_REASONS)[number];

/** The bucket's tokens at `now`: what it held at `refilledAt`, plus `rate` a second, up to `burst`. */
export function refillTokens(
  limit: ServiceLimit,
  bucket: { tokens: number; refilledAt: Date },
  now: Date,
): number {
  if (limit.rate === null || limit.burst === null) return Number.POSITIVE_INFINITY;
  const elapsedS = Math.max(0, now.getTime() - bucket.refilledAt.getTime()) / 1000;
  return Math.min(limit.burst, bucket.tokens + elapsedS * limit.rate);
}

/** What a release sees, counted under the limit row's lock. */
export type LimitUsage = {
  /** Steps in_progress under an unexpired lease. */
  inFlight: number;
  /** Steps released and not claimed yet: each will take a slot and a token when it arrives. */
  reserved: number;
  /** Steps held with a limit's reason. */
  waiting: number;
  tokens: number;
  refilledAt: Date;
};

/**
 * How many waiting steps to release now (which ones, fairly across namespaces: LIMIT_RELEASE_SQL
 * in @switchyard/db), each with the delay before its dispatch: a free slot releases a step at
 * once; a token not yet due releases it with the delay until the token is, when that is within
 * `horizonMs` (the next sweep picks up later ones).
 * Released steps that have not been claimed yet hold their slot (`reserved`); their tokens are
 * taken from the bucket at release (it may go below zero), so two releases never hand out the
 * same capacity, and a released step that arrives late costs the rate nothing.
 */
export function decideLimitRelease(
  limit: ServiceLimit,
  usage: LimitUsage,
  now: Date,
  horizonMs: number,
): number[] {
  const bySlots =
    limit.maxConcurrent === null
      ? usage.waiting
      : Math.max(0, limit.maxConcurrent - usage.inFlight - usage.reserved);
  const count = Math.min(usage.waiting, bySlots);
  const delays: number[] = [];
  const tokens = refillTokens(limit, usage, now);
  for (let i = 0; i < count; i++) {
    const delayMs = tokenDelayMs(limit, tokens, i);
    if (delayMs > horizonMs) break;
    delays.push(delayMs);
  }
  return delays;
}

/**
 * How far ahead a release hands out tokens not yet due (ms): their steps are dispatched with the
 * delay until their token is. About two scheduler sweeps, so a steady rate never waits for one.
 */
export const LIMIT_RELEASE_HORIZON_MS = 2_000;

// A released step must find its token when it arrives: a few ms late is harmless, early is a
// second hold.
const TOKEN_MARGIN_MS = 5;

/** Milliseconds until the bucket holding `tokens` now has its `index`-th token (0-based) for the taking. */
function tokenDelayMs(limit: ServiceLimit, tokens: number, index: number): number {
  if (limit.rate === null) return 0;
  const missing = index + 1 - tokens;
  if (missing <= 0) return 0;
  return Math.ceil((missing / limit.rate) * 1000) + TOKEN_MARGIN_MS;
}
