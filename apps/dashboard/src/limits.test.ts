import type { ServiceLimit } from '@switchyard/client';
import { describe, expect, it } from 'vitest';
import { limitCells } from './limits.ts';

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
