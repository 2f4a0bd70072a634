import { describe, expect, it } from 'vitest';
import { dagDetail, dagStatus } from './batch-progress.ts';

const step = { status: 'complete', attempts: 1, maxAttempts: 3 } as const;

describe('a batch group in the DAG', () => {
  it('shows an ordinary step as it is', () => {
    expect(dagStatus({ ...step, batch: null })).toBe('complete');
    expect(dagDetail({ ...step, batch: null })).toBe('1/3');
  });

  it('shows the group running until every batch is complete, with n/N batches', () => {
    const running = { ...step, batch: { total: 10_000, complete: 4_200, failed: 0, inFlight: 5_800 } };
    expect(dagStatus(running)).toBe('in_progress');
    expect(dagDetail(running)).toBe('4200/10000 batches');
    const done = { ...step, batch: { total: 10_000, complete: 10_000, failed: 0, inFlight: 0 } };
    expect(dagStatus(done)).toBe('complete');
  });

  it('shows a group with a failed batch as failed, saying how many', () => {
    const failing = { ...step, batch: { total: 20, complete: 18, failed: 1, inFlight: 1 } };
    expect(dagStatus(failing)).toBe('error');
    expect(dagDetail(failing)).toBe('18/20 batches, 1 failed');
  });

  it('shows an empty plan as complete with 0/0 batches', () => {
    const empty = { ...step, batch: { total: 0, complete: 0, failed: 0, inFlight: 0 } };
    expect(dagStatus(empty)).toBe('complete');
    expect(dagDetail(empty)).toBe('0/0 batches');
  });
});
