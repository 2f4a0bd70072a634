import { describe, expect, it } from 'vitest';
import { type AdaptiveState, type AdaptiveWindow, decideAdaptiveLimit } from './adaptive-limits.ts';
import { resolveServiceLimit } from './service-limits.ts';

const state = (over: Partial<AdaptiveState> = {}): AdaptiveState => ({
  limit: 16,
  bounds: { min: 2, max: 16 },
  baselineMs: 40,
  inFlight: 16,
  waiting: true,
  ...over,
});
const window = (over: Partial<AdaptiveWindow> = {}): AdaptiveWindow => ({
  windowMs: 10_000,
  calls: 20,
  timeouts: 0,
  overloadErrors: 0,
  p50Ms: 45,
  p90Ms: 60,
  ...over,
});

describe('decideAdaptiveLimit', () => {
  it('says nothing from a window with too few calls or no successful call to measure', () => {
    expect(decideAdaptiveLimit(state(), window({ calls: 4, timeouts: 4 }))).toBeNull();
    expect(decideAdaptiveLimit(state(), window({ p50Ms: null, p90Ms: null }))).toBeNull();
  });

  it('halves the limit when a tenth of the calls time out or are refused for overload', () => {
    const d = decideAdaptiveLimit(state(), window({ timeouts: 1, overloadErrors: 1 }))!;
    expect(d.limit).toBe(8);
    expect(d.reason).toBe('2 of 20 calls failed (1 timed out, 1 overloaded): 16 → 8');
    expect(d.evidence).toMatchObject({ calls: 20, timeouts: 1, overloadErrors: 1, from: 16, to: 8 });
    // below a tenth it is not a failing window
    expect(decideAdaptiveLimit(state(), window({ calls: 21, timeouts: 2 }))!.limit).toBeGreaterThanOrEqual(
      16,
    );
  });

  it('never leaves its bounds', () => {
    expect(decideAdaptiveLimit(state({ limit: 3 }), window({ timeouts: 20 }))!.limit).toBe(2);
    expect(decideAdaptiveLimit(state({ limit: 16 }), window())!.limit).toBe(16);
    // a limit outside new bounds is brought inside them
    expect(decideAdaptiveLimit(state({ limit: 40, waiting: false }), window())!.limit).toBe(16);
  });

  it('shrinks by the latency gradient when p50 is over twice the baseline, by half at most', () => {
    // 120 ms against 40: gradient 2 × 40 / 120 = 0.67
    expect(decideAdaptiveLimit(state(), window({ p50Ms: 120 }))!.limit).toBe(10);
    // ten times slower: at most halved
    const d = decideAdaptiveLimit(state(), window({ p50Ms: 400 }))!;
    expect(d.limit).toBe(8);
    expect(d.reason).toBe('p50 400 ms is 10.0× the baseline 40 ms: 16 → 8');
    expect(d.baselineMs).toBe(40);
  });

  it('grows a binding limit of a healthy service by a tenth, at least one, and not one nothing reaches', () => {
    expect(decideAdaptiveLimit(state({ limit: 4, bounds: { min: 1, max: 50 } }), window())!.limit).toBe(5);
    expect(decideAdaptiveLimit(state({ limit: 30, bounds: { min: 1, max: 50 } }), window())!.limit).toBe(33);
    const idle = decideAdaptiveLimit(state({ limit: 4, inFlight: 2, waiting: false }), window())!;
    expect(idle.limit).toBe(4);
    expect(idle.reason).toBe('healthy (p50 45 ms, baseline 40 ms), limit not reached');
  });

  it('learns the baseline from healthy windows: set by the first, lowered at once, raised by a tenth only when the limit was not reached', () => {
    expect(decideAdaptiveLimit(state({ baselineMs: null }), window({ p50Ms: 50 }))!.baselineMs).toBe(50);
    expect(decideAdaptiveLimit(state(), window({ p50Ms: 30 }))!.baselineMs).toBe(30);
    const idle = { inFlight: 3, waiting: false };
    expect(decideAdaptiveLimit(state(idle), window({ p50Ms: 60 }))!.baselineMs).toBe(42);
    // at a binding limit, slower calls queue inside the service because of the limit's own load
    expect(decideAdaptiveLimit(state(), window({ p50Ms: 60 }))!.baselineMs).toBe(40);
    // a slow window above the floor does not teach it
    expect(decideAdaptiveLimit(state(), window({ p50Ms: 400 }))!.baselineMs).toBe(40);
  });

  it('at its floor, a service that stays slow but answers becomes the new normal and the limit grows again', () => {
    let s = state({ limit: 2, bounds: { min: 2, max: 16 }, baselineMs: 30, inFlight: 2 });
    const slow = window({ p50Ms: 300 });
    let evaluations = 0;
    while (s.limit === 2 && evaluations < 100) {
      const d = decideAdaptiveLimit(s, slow)!;
      s = { ...s, limit: d.limit, baselineMs: d.baselineMs };
      evaluations += 1;
    }
    expect(s.limit).toBe(3);
    expect(s.baselineMs).toBeGreaterThanOrEqual(150);
    // grown off the floor at a binding limit, it keeps what it learned there
    expect(decideAdaptiveLimit(s, window({ p50Ms: 450 }))!.baselineMs).toBe(s.baselineMs);
    console.log(
      `[measure] evaluations at the floor before a 10x slower service's limit grows: ${evaluations}`,
    );
  });

  it('follows a slowdown down and its recovery back up, step by step', () => {
    let s = state({ limit: 16, bounds: { min: 2, max: 16 }, baselineMs: 40 });
    const path = [s.limit];
    const step = (w: Partial<AdaptiveWindow>) => {
      const d = decideAdaptiveLimit(s, window(w))!;
      s = { ...s, limit: d.limit, baselineMs: d.baselineMs };
      path.push(s.limit);
    };
    step({ timeouts: 6 });
    step({ p50Ms: 1200 });
    step({ p50Ms: 600 });
    for (let i = 0; i < 15; i++) step({ p50Ms: 45 });
    expect(path.slice(0, 4)).toEqual([16, 8, 4, 2]);
    expect(s.limit).toBe(16);
  });
});

describe('an adaptive limit in the configuration', () => {
  it('starts at max_concurrent with bounds 1..max_concurrent for true, or the bounds given', () => {
    expect(resolveServiceLimit({ max_concurrent: 8, adaptive: true }).adaptive).toEqual({ min: 1, max: 8 });
    expect(resolveServiceLimit({ max_concurrent: 8, adaptive: { min: 2, max: 32 } }).adaptive).toEqual({
      min: 2,
      max: 32,
    });
    expect(resolveServiceLimit({ max_concurrent: 8, adaptive: false }).adaptive).toBeUndefined();
  });

  it('refuses adaptive without max_concurrent, and bounds upside down', () => {
    expect(() => resolveServiceLimit({ rate: 5, adaptive: true })).toThrow(/adaptive needs max_concurrent/);
    expect(() => resolveServiceLimit({ max_concurrent: 4, adaptive: { min: 5, max: 3 } })).toThrow(
      /min 5 is above max 3/,
    );
    expect(() => resolveServiceLimit({ max_concurrent: 4, adaptive: { low: 1 } } as never)).toThrow(/low/);
  });
});
