import { describe, expect, it } from 'vitest';
import { MAX_BATCHES_PER_TASK, planBatches } from './batch-plan.ts';

describe('planBatches', () => {
  it('cuts { total, batch_size } into ranges, the last one short', () => {
    expect(planBatches({ total: 10, batch_size: 4 })).toEqual({
      ok: true,
      cursors: [
        { start: 0, end: 4 },
        { start: 4, end: 8 },
        { start: 8, end: 10 },
      ],
    });
  });

  it('takes explicit cursors as they are, any JSON per batch', () => {
    const cursors = ['a', { page: 2 }, null, [1, 2]];
    expect(planBatches({ cursors, note: 'kept as results' })).toEqual({ ok: true, cursors });
  });

  it('plans no batch for total 0 or an empty cursor list', () => {
    expect(planBatches({ total: 0, batch_size: 50 })).toEqual({ ok: true, cursors: [] });
    expect(planBatches({ cursors: [] })).toEqual({ ok: true, cursors: [] });
  });

  it('accepts exactly the limit and refuses one batch more, naming the count and the limit', () => {
    const atLimit = planBatches({ total: MAX_BATCHES_PER_TASK, batch_size: 1 });
    expect(atLimit.ok && atLimit.cursors.length).toBe(MAX_BATCHES_PER_TASK);
    expect(planBatches({ total: MAX_BATCHES_PER_TASK + 1, batch_size: 1 })).toEqual({
      ok: false,
      message:
        'batch plan 10001 batches (total 10001 / batch_size 1) is over the limit of 10000 batches per task',
    });
    expect(planBatches({ cursors: Array.from({ length: 10_001 }, (_, i) => i) })).toEqual({
      ok: false,
      message: 'batch plan 10001 batches is over the limit of 10000 batches per task',
    });
  });

  it('refuses malformed plans with a message saying what is wrong', () => {
    const message = (results: unknown) => {
      const plan = planBatches(results);
      return plan.ok ? 'accepted' : plan.message;
    };
    expect(message(null)).toBe(
      'batch plan must be an object, { total, batch_size } or { cursors: [...] } (got null)',
    );
    expect(message([1])).toMatch(/got an array/);
    expect(message({ items: 3 })).toMatch(/neither key is present/);
    expect(message({ total: 3 })).toBe('batch plan batch_size must be an integer >= 1 (got undefined)');
    expect(message({ total: -1, batch_size: 2 })).toBe('batch plan total must be an integer >= 0 (got -1)');
    expect(message({ total: 5, batch_size: 0 })).toMatch(/batch_size must be an integer >= 1 \(got 0\)/);
    expect(message({ total: 5, batch_size: 1.5 })).toMatch(/batch_size must be an integer/);
    expect(message({ cursors: 'abc' })).toBe('batch plan cursors must be an array (got string)');
    expect(message({ cursors: [1], total: 1, batch_size: 1 })).toMatch(/both cursors and total/);
  });
});
