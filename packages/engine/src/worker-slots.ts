/**
 * A worker's attempt slots, per step type: at most `concurrency` attempts of a type run at once,
 * whether BullMQ delivered them or the worker claimed them itself right after their parent
 * succeeded (the eager claim, eager-claims.ts). BullMQ counts only its own deliveries, so a
 * delivery waits here while local continuations hold every slot of its type; a continuation never
 * waits: it takes a free slot at once or its step goes through the queue.
 */
export class WorkerSlots {
  readonly #capacity: number;
  readonly #busy = new Map<string, number>();
  /** Deliveries waiting for a slot, by step type, first come first served. */
  readonly #waiting = new Map<string, (() => void)[]>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Slots of `type` taken now. */
  busy(type: string): number {
    return this.#busy.get(type) ?? 0;
  }

  /** Takes a slot of `type` if one is free. */
  tryAcquire(type: string): boolean {
    const busy = this.busy(type);
    if (busy >= this.#capacity) return false;
    this.#busy.set(type, busy + 1);
    return true;
  }

  /** Takes a slot of `type`, waiting behind the deliveries that wait already. */
  acquire(type: string): Promise<void> {
    if (this.tryAcquire(type)) return Promise.resolve();
    return new Promise((resolve) => {
      const queue = this.#waiting.get(type) ?? [];
      queue.push(resolve);
      this.#waiting.set(type, queue);
    });
  }

  /** Gives a slot of `type` back: to the first delivery waiting for one, else to the free ones. */
  release(type: string): void {
    const next = this.#waiting.get(type)?.shift();
    if (next) next();
    else this.#busy.set(type, Math.max(0, this.busy(type) - 1));
  }
}
