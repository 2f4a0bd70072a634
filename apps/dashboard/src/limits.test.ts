import type { ServiceLimit } from '@switchyard/client';
import { describe, expect, it } from 'vitest';
import { changeRow, describeLimit, draftFor, limitCells, overrideBody } from './limits.ts';

const base: ServiceLimit = {
  dependentSystem: 'billing',
  limit: { maxConcurrent: 4, rate: null, burst: null },
  configured: { maxConcurrent: 4, rate: null, burst: null },
  override: null,
  inFlight: 3,
  waiting: { concurrency: 0, rate: 0 },
  reserved: 0,
  adaptive: null,
  updatedAt: '2026-12-05T00:00:00.000Z',
};

describe('limitCells', () => {
  it('shows in flight against the limit, and - where a dimension is not limited', () => {
    expect(limitCells(base)).toEqual({
      maxConcurrent: '4',
      rate: '-',
      inFlight: '3 of 4',
      waiting: '0',
      override: '-',
      adaptive: '-',
    });
  });

  it('shows an adaptive limit with its bounds and baseline, or paused while an override is in force', () => {
    const adaptive = { min: 2, max: 16, limit: 6, baselineLatencyMs: 41, paused: false };
    expect(limitCells({ ...base, adaptive }).adaptive).toBe('2–16, baseline 41 ms');
    expect(limitCells({ ...base, adaptive: { ...adaptive, baselineLatencyMs: null } }).adaptive).toBe(
      '2–16, no baseline yet',
    );
    expect(limitCells({ ...base, adaptive: { ...adaptive, paused: true } }).adaptive).toBe(
      '2–16, paused by the override',
    );
  });

  it('shows the waiting steps by reason, the rate with its burst, and who overrode it why', () => {
    const cells = limitCells({
      ...base,
      limit: { maxConcurrent: null, rate: 5, burst: 10 },
      override: { maxConcurrent: null, rate: 5, burst: 10, reason: 'slow down', actor: 'key:ab12', at: 'x' },
      waiting: { concurrency: 2, rate: 7 },
    });
    expect(cells).toMatchObject({
      maxConcurrent: '-',
      rate: '5/s (burst 10)',
      inFlight: '3',
      waiting: '9 (2 concurrency, 7 rate)',
      override: 'slow down (key:ab12)',
    });
  });
});

describe('the override form', () => {
  it('starts from the limit in force, blank where a dimension is not limited', () => {
    expect(draftFor('billing', base)).toEqual({
      system: 'billing',
      maxConcurrent: '4',
      rate: '',
      burst: '',
      reason: '',
    });
    expect(draftFor('new_system', undefined).maxConcurrent).toBe('');
  });

  it('sends blanks as null (not limited) and values as typed, for the API to judge', () => {
    expect(
      overrideBody({ system: 'billing', maxConcurrent: ' 3 ', rate: '', burst: '', reason: ' scaled up ' }),
    ).toEqual({ maxConcurrent: 3, rate: null, burst: null, reason: 'scaled up' });
    expect(
      overrideBody({ system: 'billing', maxConcurrent: '0', rate: '2.5', burst: '5', reason: 'x' }),
    ).toEqual({
      maxConcurrent: 0,
      rate: 2.5,
      burst: 5,
      reason: 'x',
    });
  });

  it('describes the limit in force in one line', () => {
    expect(describeLimit({ ...base, limit: { maxConcurrent: 2, rate: 5, burst: 10 } })).toBe(
      'billing: max concurrent 2, rate 5/s (burst 10)',
    );
  });
});

describe('changeRow', () => {
  const at = '2026-12-05T07:25:56.791Z';
  it("shows an adaptive change with the window it was judged on, and an operator's with who", () => {
    expect(
      changeRow({
        limit: { maxConcurrent: 7, rate: null, burst: null },
        source: 'adaptive',
        reason: 'p50 1225 ms is 3.1× the baseline 398 ms: 12 → 7',
        actor: 'scheduler-a',
        evidence: {
          windowMs: 2000,
          calls: 7,
          timeouts: 0,
          overloadErrors: 0,
          p50Ms: 1225,
          p90Ms: 2125,
          baselineMs: 398.2,
          inFlight: 12,
          waiting: true,
          from: 12,
          to: 7,
        },
        at,
      }),
    ).toEqual({
      at,
      source: 'adaptive',
      limit: '7',
      reason: 'p50 1225 ms is 3.1× the baseline 398 ms: 12 → 7',
      evidence:
        '7 calls in 2 s: 0 timed out, 0 overloaded, p50 1225 ms (baseline 398 ms), 12 in flight, steps waiting',
    });
    expect(
      changeRow({
        limit: { maxConcurrent: null, rate: 5, burst: 5 },
        source: 'operator',
        reason: 'override by operator: incident',
        actor: 'key:ab12',
        evidence: null,
        at,
      }),
    ).toMatchObject({ source: 'operator (key:ab12)', limit: '-', evidence: '-' });
  });
});
