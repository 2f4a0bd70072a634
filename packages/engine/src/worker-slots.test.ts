import { describe, expect, it } from 'vitest';
import { WorkerSlots } from './worker-slots.ts';

/** Settles `promise` into a list as soon as it resolves, so a test can see what has resolved. */
function track<T>(promise: Promise<T>, into: T[]): void {
  void promise.then((value) => into.push(value));
}

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('WorkerSlots', () => {
  it('gives a freed slot to a waiting continuation before the deliveries that waited longer', async () => {
    const slots = new WorkerSlots(1);
    expect(slots.tryAcquire('email')).toBe(true);
    const order: string[] = [];
    track(
      slots.acquire('email').then(() => 'delivery'),
      order,
    );
    track(
      slots.acquireWithin('email', 60_000)!.then((got) => (got ? 'continuation' : 'timed out')),
      order,
    );
    slots.release('email');
    await settle();
    expect(order).toEqual(['continuation']);
    slots.release('email');
    await settle();
    expect(order).toEqual(['continuation', 'delivery']);
    expect(slots.busy('email')).toBe(1);
  });

  it('a continuation that gets no slot in time resolves false and leaves the line', async () => {
    const slots = new WorkerSlots(1);
    slots.tryAcquire('email');
    expect(slots.acquireWithin('email', 0)).toBeNull();
    expect(await slots.acquireWithin('email', 5)).toBe(false);
    const delivered: string[] = [];
    track(
      slots.acquire('email').then(() => 'delivery'),
      delivered,
    );
    // The continuation that gave up is not served: the slot goes to the delivery.
    slots.release('email');
    await settle();
    expect(delivered).toEqual(['delivery']);
    slots.release('email');
    expect(slots.busy('email')).toBe(0);
  });

  it('lets no more continuations wait than there are slots: the next one is told at once', async () => {
    const slots = new WorkerSlots(2);
    slots.tryAcquire('email');
    slots.tryAcquire('email');
    const line = [slots.acquireWithin('email', 60_000), slots.acquireWithin('email', 60_000)];
    expect(slots.acquireWithin('email', 60_000)).toBeNull();
    slots.release('email');
    slots.release('email');
    expect(await Promise.all(line)).toEqual([true, true]);
    // Served: the line is empty again, and a continuation may wait once more.
    expect(slots.acquireWithin('email', 60_000)).not.toBeNull();
  });

  it('counts slots per step type: a busy type does not hold another back', async () => {
    const slots = new WorkerSlots(1);
    slots.tryAcquire('email');
    expect(await slots.acquireWithin('billing', 60_000)).toBe(true);
    expect(slots.busy('billing')).toBe(1);
    expect(slots.busy('email')).toBe(1);
  });
});
