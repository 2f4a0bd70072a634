import {
  type ClaimedStep,
  type ClaimRequest,
  claimStepAttempts,
  type Pool,
  withRetries,
} from '@switchyard/db';

type Waiting = {
  request: ClaimRequest;
  resolve: (step: ClaimedStep | null) => void;
  reject: (err: unknown) => void;
};

/**
 * Claims a worker's deliveries together. The first claim goes at once; deliveries that arrive
 * while a claim statement runs wait for it and then go in the next statement, all together. An
 * idle worker pays no delay; a busy one pays one round trip and one commit for many claims
 * (measured with bench/: per-statement overhead is most of what Postgres spends per step).
 */
export class ClaimBatcher {
  readonly #pool: Pool;
  readonly #workerId: string;
  readonly #maxBatch: number;
  readonly #maxStatements: number;
  #waiting: Waiting[] = [];
  #running = 0;

  /**
   * @param maxStatements claim statements in flight at once: more than one, so a statement
   *   waiting on a row lock or a slow round trip does not hold up every delivery behind it.
   */
  constructor(pool: Pool, workerId: string, { maxBatch = 100, maxStatements = 2 } = {}) {
    this.#pool = pool;
    this.#workerId = workerId;
    this.#maxBatch = maxBatch;
    this.#maxStatements = maxStatements;
  }

  /** The claimed step, or null when the fence refuses the delivery. */
  claim(request: ClaimRequest): Promise<ClaimedStep | null> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      if (this.#running < this.#maxStatements) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running += 1;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#maxBatch);
      try {
        // A deadlock (two batches holding the same tasks' rows in another order) rolls the
        // statement back, so running it again is safe; the fence judges every request anew.
        const claimed = await withRetries(() =>
          claimStepAttempts(
            this.#pool,
            this.#workerId,
            batch.map((w) => w.request),
          ),
        );
        batch.forEach((w, i) => {
          w.resolve(claimed[i] ?? null);
        });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.#running -= 1;
  }
}
