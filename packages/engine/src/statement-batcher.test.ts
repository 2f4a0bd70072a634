import { waitFor } from '@switchyard/testing';
import { describe, expect, it } from 'vitest';
import { StatementBatcher } from './statement-batcher.ts';

/** A batch runner whose statements finish when the test says, recording each batch it got. */
function heldStatements() {
  const batches: number[][] = [];
  const finishers: (() => void)[] = [];
  const run = (batch: number[]) =>
    new Promise<number[]>((resolve) => {
      batches.push(batch);
      finishers.push(() => resolve(batch.map((n) => n * 10)));
    });
  /** Finishes the statement started `index`-th (0-based). */
  const finish = (index: number) => finishers[index]?.();
  return { run, batches, finish };
}

describe('StatementBatcher', () => {
  it('sends the requests that arrive while a statement runs in one statement after it', async () => {
    const held = heldStatements();
    const batcher = new StatementBatcher(held.run);
    const first = batcher.submit(1);
    const rest = [2, 3, 4].map((n) => batcher.submit(n));
    expect(held.batches).toEqual([[1]]);
    held.finish(0);
    expect(await first).toBe(10);
    await waitFor('the second statement', () => held.batches.length === 2);
    expect(held.batches[1]).toEqual([2, 3, 4]);
    held.finish(1);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('starts a second statement for the requests behind one that has stalled, and no third', async () => {
    const held = heldStatements();
    const batcher = new StatementBatcher(held.run);
    const first = batcher.submit(1);
    const second = batcher.submit(2);
    // The first statement never finishes by itself: the one behind it goes once it has stalled.
    await waitFor('a statement beside the stalled one', () => held.batches.length === 2);
    expect(held.batches[1]).toEqual([2]);
    const third = batcher.submit(3);
    const fourth = batcher.submit(4);
    expect(held.batches).toHaveLength(2);
    held.finish(1);
    expect(await second).toBe(20);
    await waitFor('the requests behind both', () => held.batches.length === 3);
    expect(held.batches[2]).toEqual([3, 4]);
    held.finish(2);
    held.finish(0);
    expect(await Promise.all([first, third, fourth])).toEqual([10, 30, 40]);
  });
});
