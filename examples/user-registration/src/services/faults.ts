/**
 * What a service can be told to do wrong, through `/admin/faults` or `admin.setFaults`: be slow,
 * answer errors, or serve only so many requests at once. Checked field by field, so a bad
 * setting is refused with its field and rule and changes nothing.
 */

/** Injected misbehaviour, applied to every non-admin request. */
export type FaultSettings = {
  /** Time each request takes before it is answered, in ms (its work, or injected latency). */
  latencyMs: number;
  /**
   * The slow switch: `latencyMs` is multiplied by it (10: each request takes ten times as long).
   * Default 1.
   */
  slowdown: number;
  /**
   * Requests worked on at once, like a server's pool of workers: the others wait, in arrival
   * order, and their wait adds to their latency. Null (default): no limit.
   */
  capacity: number | null;
  /** Share of requests (0..1) answered with `errorStatus` instead of being handled. */
  errorRate: number;
  /** Status of the `errorRate` faults; default 503. */
  errorStatus: number;
  /** Statuses to answer next, first in first out; consumed before `errorRate` is consulted. */
  sequence: number[];
  /** `Retry-After` value (seconds or an HTTP-date) sent with injected 429 and 503; null for none. */
  retryAfter: string | null;
};

/** A change to {@link FaultSettings}; `retryAfter` may be given in seconds. */
export type FaultPatch = Partial<Omit<FaultSettings, 'retryAfter'>> & { retryAfter?: string | number | null };

export function noFaults(): FaultSettings {
  return {
    latencyMs: 0,
    slowdown: 1,
    capacity: null,
    errorRate: 0,
    errorStatus: 503,
    sequence: [],
    retryAfter: null,
  };
}

/** How long a request's work takes now. */
export function workMs(faults: FaultSettings): number {
  return Math.round(faults.latencyMs * faults.slowdown);
}

const isFaultStatus = (v: unknown) => Number.isInteger(v) && (v as number) >= 400 && (v as number) <= 599;

/** One rule per field: true when valid, else the rule text that names what is expected. */
const FAULT_RULES: Record<keyof FaultSettings, [(v: unknown) => boolean, string]> = {
  latencyMs: [
    (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 600_000,
    'an integer in 0..600000',
  ],
  slowdown: [(v) => typeof v === 'number' && v >= 1 && v <= 1000, 'a number in 1..1000'],
  capacity: [
    (v) => v === null || (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 10_000),
    'an integer in 1..10000, or null',
  ],
  errorRate: [(v) => typeof v === 'number' && v >= 0 && v <= 1, 'a number in 0..1'],
  errorStatus: [isFaultStatus, 'an HTTP status in 400..599'],
  sequence: [(v) => Array.isArray(v) && v.every(isFaultStatus), 'an array of HTTP statuses in 400..599'],
  retryAfter: [
    (v) =>
      v === null || (typeof v === 'string' && v.trim() !== '') || (Number.isInteger(v) && (v as number) >= 0),
    'seconds (a non-negative integer), an HTTP-date string, or null',
  ],
};

/**
 * Checks a fault patch and returns the settings it produces.
 * @throws TypeError naming the field and the rule, when the patch is invalid (nothing changes).
 */
export function applyFaultPatch(current: FaultSettings, patch: unknown): FaultSettings {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new TypeError('faults must be an object');
  }
  for (const [field, value] of Object.entries(patch)) {
    const rule = FAULT_RULES[field as keyof FaultSettings];
    if (!rule) {
      throw new TypeError(`${field} is not a fault setting (${Object.keys(FAULT_RULES).join(', ')})`);
    }
    if (!rule[0](value)) throw new TypeError(`${field} must be ${rule[1]}`);
  }
  const next = { ...current, ...(patch as FaultPatch) };
  return {
    ...next,
    sequence: [...next.sequence],
    retryAfter: next.retryAfter === null ? null : String(next.retryAfter),
  };
}
