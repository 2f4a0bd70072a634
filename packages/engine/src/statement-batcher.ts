import { isDatabaseUnavailable } from '@switchyard/db';

type Waiting<Request, Result> = {
  request: Request;
  resolve: (result: Result) => void;
  reject: (err: unknown) => void;
};

/** Requests in one statement at most. */
const MAX_BATCH = 100;
/**
 * Statements of one kind in flight at once. One normally: the requests that arrive while it runs
 * all go in the next one (a registration burst measured 0.68 statements per step instead of
 * 1.02, and x1.26 to x1.29 the steps per second of always allowing two: docs/PERFORMANCE.md). A
 * second one starts only once the first has stalled (STALL_MS), so a statement waiting on a row
 * lock or a slow round trip does not hold up every request behind it.
 */
const MAX_STATEMENTS = 2;
/** How long a statement runs before the requests behind it may go in a statement of their own. */
const STALL_MS = 20;

/**
 * Sends a worker's requests of one kind (claims, recorded successes) to Postgres together. The
 * first request goes at once; requests that arrive while a statement runs wait for it and then
 * go in the next statement, all together. An idle worker pays no delay; a busy one pays one
 * round trip and one commit for many requests (measured with bench/: per-statement overhead is
 * most of what Postgres spends per step).
 */
export class StatementBatcher<Request, Result> {
  readonly #run: (batch: Request[]) => Promise<Result[]>;
  #waiting: Waiting<Request, Result>[] = [];
  #running = 0;
  /** Statements in flight for longer than STALL_MS. */
  #stalled = 0;

  /**
   * @param run runs one batch and returns one result per request, in order, all or nothing. It
   *   retries what is safe to retry itself; when it throws, each request is run again alone.
   */
  constructor(run: (batch: Request[]) => Promise<Result[]>) {
    this.#run = run;
  }

  /** Requests waiting for a statement (the ones of the statements in flight not counted). */
  get waiting(): number {
    return this.#waiting.length;
  }

  submit(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      this.#startIfIdle();
    });
  }

  /** Starts a statement when none runs, or when every one running has stalled. */
  #startIfIdle(): void {
    if (this.#running === this.#stalled && this.#running < MAX_STATEMENTS) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#running += 1;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, MAX_BATCH);
      let stalled = false;
      const stall = setTimeout(() => {
        stalled = true;
        this.#stalled += 1;
        if (this.#waiting.length > 0) this.#startIfIdle();
      }, STALL_MS);
      stall.unref();
      try {
        const results = await this.#run(batch.map((w) => w.request));
        batch.forEach((w, i) => {
          w.resolve(results[i] as Result);
        });
      } catch (err) {
        // Postgres unreachable fails every request alike: running them one by one would only
        // multiply the retries.
        if (batch.length === 1 || isDatabaseUnavailable(err)) {
          for (const w of batch) w.reject(err);
        } else await this.#oneByOne(batch);
      } finally {
        clearTimeout(stall);
        if (stalled) this.#stalled -= 1;
      }
    }
    this.#running -= 1;
  }

  /**
   * After a batch failed (the statement rolled back as a whole): runs each request on its own,
   * so one request Postgres refuses (a result it cannot store, say) fails alone instead of
   * taking every request batched with it.
   */
  async #oneByOne(batch: Waiting<Request, Result>[]): Promise<void> {
    for (const w of batch) {
      try {
        const [result] = await this.#run([w.request]);
        w.resolve(result as Result);
      } catch (err) {
        w.reject(err);
      }
    }
  }
}
