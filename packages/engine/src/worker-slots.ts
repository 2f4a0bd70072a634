/**
 * A worker's attempt slots, per step type: at most `concurrency` attempts of a type run at once,
 * whether BullMQ delivered them or the worker claimed them itself right after their parent
 * succeeded (the eager claim, eager-claims.ts). BullMQ counts only its own deliveries, so a
 * delivery waits here while local continuations hold every slot of its type. A continuation
 * waits ahead of every delivery, for a short while only: past that, its step goes through the
 * queue, where another worker may be free for it.
 */
export class WorkerSlots {
  readonly #capacity: number;
  readonly #busy = new Map<string, number>();
  /** Deliveries waiting for a slot, by step type, first come first served. */
  readonly #deliveries = new Map<string, (() => void)[]>();
  /** Continuations waiting for a slot, by step type: served before any delivery. */
  readonly #continuations = new Map<string, (() => void)[]>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Slots of `type` taken now. */
  busy(type: string): number {
    return this.#busy.get(type) ?? 0;
  }

  /** Slots of `type` free now. */
  free(type: string): number {
    return Math.max(0, this.#capacity - this.busy(type));
  }

  /** Takes a slot of `type` if one is free. */
  tryAcquire(type: string): boolean {
    const busy = this.busy(type);
    if (busy >= this.#capacity) return false;
    this.#busy.set(type, busy + 1);
    return true;
  }

  /** Takes a slot of `type`, waiting behind the continuations and deliveries that wait already. */
  acquire(type: string): Promise<void> {
    if (this.tryAcquire(type)) return Promise.resolve();
    return new Promise((resolve) => waitersOf(this.#deliveries, type).push(resolve));
  }

  /**
   * Takes a slot of `type` for a continuation: ahead of every waiting delivery, behind the
   * continuations that wait already, for at most `waitMs`. Resolves false when none came in time.
   * Returns null at once, without waiting, when no slot is free and as many continuations as
   * there are slots wait already (a longer line would mostly not be served within the wait; a
   * parent with 50 children sends the rest through the queue in one go), or when `waitMs` is 0.
   */
  acquireWithin(type: string, waitMs: number): Promise<boolean> | null {
    if (this.tryAcquire(type)) return Promise.resolve(true);
    const waiters = waitersOf(this.#continuations, type);
    if (waitMs <= 0 || waiters.length >= this.#capacity) return null;
    return new Promise((resolve) => {
      const granted = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(granted), 1);
        resolve(false);
      }, waitMs);
      waiters.push(granted);
    });
  }

  /** Gives a slot of `type` back: to the first continuation waiting, else the first delivery, else the free ones. */
  release(type: string): void {
    const next = this.#continuations.get(type)?.shift() ?? this.#deliveries.get(type)?.shift();
    if (next) next();
    else this.#busy.set(type, Math.max(0, this.busy(type) - 1));
  }
}

function waitersOf(waiting: Map<string, (() => void)[]>, type: string): (() => void)[] {
  let waiters = waiting.get(type);
  if (!waiters) {
    waiters = [];
    waiting.set(type, waiters);
  }
  return waiters;
}
