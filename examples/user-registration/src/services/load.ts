/**
 * What a service is doing at once: the requests in flight (received and not answered yet, as
 * the service itself sees them) with their peak since the last reset, and the gate that works
 * on at most `capacity` of them at a time while the others wait their turn.
 */

/**
 * Requests in flight now, the most at once since the peak was last reset, and how many of those
 * in flight wait for the capacity.
 */
export type InFlight = { now: number; peak: number; waiting: number };

export function createLoad() {
  let now = 0;
  let peak = 0;
  let working = 0;
  const queue: (() => void)[] = [];
  return {
    /** A request arrived. */
    arrived(): void {
      now += 1;
      peak = Math.max(peak, now);
    },
    /** A request was answered (or dropped). */
    left(): void {
      now -= 1;
    },
    inFlight: (): InFlight => ({ now, peak, waiting: queue.length }),
    /** Starts a new peak from what is in flight now. */
    resetPeak(): void {
      peak = now;
    },
    /**
     * Runs `work` when fewer than `capacity` requests are being worked on (null: at once);
     * waiting requests start in arrival order.
     */
    async gate<T>(capacity: number | null, work: () => Promise<T>): Promise<T> {
      if (capacity !== null && working >= capacity) {
        await new Promise<void>((resolve) => queue.push(resolve));
      } else working += 1;
      // A waiting request let in inherits the slot of the one that leaves: `working` is unchanged.
      try {
        return await work();
      } finally {
        if (queue.length > 0) queue.shift()?.();
        else working -= 1;
      }
    },
  };
}
