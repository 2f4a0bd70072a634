import type { ServiceLimit } from '@switchyard/client';
import { describe, expect, it } from 'vitest';
import { describeLimit, draftFor, limitCells, overrideBody } from './limits.ts';

const base: ServiceLimit = {
  dependentSystem: 'billing',
  limit: { maxConcurrent: 4, rate: null, burst: null },
  configured: { maxConcurrent: 4, rate: null, burst: null },
  override: null,
  inFlight: 3,
  waiting: { concurrency: 0, rate: 0 },
  reserved: 0,
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
    });
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
