import { type JobsOptions, Queue } from 'bullmq';
import { assertQueuePrefixFits, type RedisConnection } from './connection.ts';
import { fairCounter, fairCountsKey, fairPriority, weightOf } from './fair-priority.ts';
import { DEFAULT_QUEUE_PREFIX, queueNameForHandler, stepJobId } from './names.ts';
import type { StepDispatch, StepJobPayload } from './payload.ts';

export type StepDispatcherOptions = {
  connection: RedisConnection;
  /** BullMQ key prefix. Default {@link DEFAULT_QUEUE_PREFIX}; on Redis Cluster it needs a hash tag. */
  prefix?: string;
  /**
   * Longest wait for Redis in `dispatch` (ms), after which it rejects; the jobs may still be
   * added later. Default: none. BullMQ waits for a connection that was never ready however the
   * connection is set up, so a caller that must answer in time (the API) bounds it here.
   */
  timeoutMs?: number;
  /** Weights by which namespaces share each queue (see fair-priority.ts); default 1 each. */
  namespaceWeights?: Readonly<Record<string, number>>;
};

// Postgres is the record of every attempt, so finished jobs are dropped from Redis at once:
// Redis stays small and a flush loses nothing but messages the scheduler can rebuild.
const JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  // A failed job is removed too, so the scheduler sees it as missing and dispatches it again.
  removeOnFail: true,
  // A failure here is infrastructure (Postgres unreachable before the claim); step outcomes
  // never fail the job. Retrying is safe because the claim is fenced.
  attempts: 5,
  backoff: { type: 'exponential', delay: 500 },
};

/**
 * Puts step attempts on their step type's queue. Call it only after the transaction that made
 * the steps ready has committed (write state first, dispatch second).
 */
export class StepDispatcher {
  readonly #connection: RedisConnection;
  readonly #prefix: string;
  readonly #queues = new Map<string, Queue<StepJobPayload, void, string>>();
  readonly #timeoutMs: number | undefined;
  readonly #weights: Readonly<Record<string, number>>;

  constructor(options: StepDispatcherOptions) {
    this.#connection = options.connection;
    this.#prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
    this.#timeoutMs = options.timeoutMs;
    this.#weights = options.namespaceWeights ?? {};
    assertQueuePrefixFits(this.#connection, this.#prefix);
  }

  /**
   * The weights namespaces share each queue by (a namespace not named, or not above 0, weighs
   * 1); a limited system's releases share its capacity by the same weights (releaseLimitWaiters).
   */
  get namespaceWeights(): Readonly<Record<string, number>> {
    return this.#weights;
  }

  /** Enqueues each attempt once; an attempt already queued under its job id is left alone. */
  async dispatch(items: readonly StepDispatch[]): Promise<void> {
    const byHandler = new Map<string, StepDispatch[]>();
    for (const item of items) {
      const group = byHandler.get(item.handler) ?? [];
      group.push(item);
      byHandler.set(item.handler, group);
    }
    const added = Promise.all([...byHandler].map(([handler, group]) => this.#addGroup(handler, group)));
    await (this.#timeoutMs === undefined ? added : withinMs(added, this.#timeoutMs));
  }

  /**
   * Of these attempts, the ones with no job in Redis (never added, flushed, evicted, or failed
   * and removed). One pipelined EXISTS per batch; a job waiting, delayed or active counts as
   * present. On Redis Cluster the pipeline stays on one node because the prefix's hash tag puts
   * every queue's keys in one slot.
   */
  async findMissing(items: readonly StepDispatch[]): Promise<StepDispatch[]> {
    if (items.length === 0) return [];
    const pipeline = this.#connection.pipeline();
    for (const item of items)
      pipeline.exists(this.queue(item.handler).toKey(stepJobId(item.stepId, item.attempt)));
    const replies = (await pipeline.exec()) ?? [];
    return items.filter((_, i) => {
      const [err, exists] = replies[i] ?? [null, 0];
      if (err) throw err;
      return exists === 0;
    });
  }

  /** The queue of one step type (created on first use). */
  queue(handler: string): Queue<StepJobPayload, void, string> {
    let queue = this.#queues.get(handler);
    if (!queue) {
      queue = new Queue<StepJobPayload, void, string>(queueNameForHandler(handler), {
        connection: this.#connection,
        prefix: this.#prefix,
      });
      this.#queues.set(handler, queue);
    }
    return queue;
  }

  /**
   * Jobs of one step type by state: `wait` counts every job waiting for a worker, whether BullMQ
   * keeps it in its plain list or in its prioritized set (fair queueing puts jobs there).
   */
  async jobCounts(handler: string): Promise<{ wait: number; delayed: number; active: number }> {
    const counts = await this.queue(handler).getJobCounts('wait', 'prioritized', 'delayed', 'active');
    return {
      wait: (counts.wait ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#queues.clear();
  }

  async #addGroup(handler: string, group: StepDispatch[]): Promise<void> {
    const queue = this.queue(handler);
    const fairs = group.map((item) => fairCounter(item.namespace ?? '', item.priority ?? 0));
    const priorities = await this.#fairPriorities(queue.name, group, fairs);
    await queue.addBulk(
      group.map(({ stepId, taskId, attempt, delayMs }, i) => ({
        name: handler,
        data: { stepId, taskId, attempt, fair: fairs[i] },
        opts: {
          ...JOB_OPTIONS,
          jobId: stepJobId(stepId, attempt),
          delay: Math.max(0, delayMs ?? 0),
          priority: priorities[i],
        },
      })),
    );
  }

  /**
   * Counts each job into its counter's outstanding jobs (one pipelined HINCRBY per job, one
   * round trip per batch) and derives its BullMQ priority from the count before it.
   */
  async #fairPriorities(
    queueName: string,
    group: readonly StepDispatch[],
    fairs: string[],
  ): Promise<number[]> {
    const key = fairCountsKey(this.#prefix, queueName);
    const pipeline = this.#connection.pipeline();
    for (const fair of fairs) pipeline.hincrby(key, fair, 1);
    const replies = (await pipeline.exec()) ?? [];
    return group.map((item, i) => {
      const [err, count] = replies[i] ?? [null, 1];
      if (err) throw err;
      return fairPriority(
        Number(count) - 1,
        weightOf(this.#weights, item.namespace ?? ''),
        item.priority ?? 0,
      );
    });
  }
}

/** `work`, or a rejection once `ms` have passed without it settling. */
function withinMs<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  // A late failure of `work` after the timeout won is not an unhandled rejection.
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
