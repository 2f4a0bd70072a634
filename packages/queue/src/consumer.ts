import { type Job, Worker } from 'bullmq';
import { assertQueuePrefixFits, type RedisConnection } from './connection.ts';
import { fairCountsKey } from './fair-priority.ts';
import { DEFAULT_QUEUE_PREFIX, queueNameForHandler } from './names.ts';
import type { StepJobPayload } from './payload.ts';

export type { Job } from 'bullmq';
export { DelayedError, QueueEvents } from 'bullmq';

export type StepConsumerOptions = {
  /** Used to build one blocking connection per queue (BullMQ duplicates it). */
  connection: RedisConnection;
  /** BullMQ key prefix; on Redis Cluster it needs a hash tag. */
  prefix?: string;
  /** Step types (handler names) to consume; one BullMQ worker per type. */
  handlers: readonly string[];
  /** Jobs processed at once per step type. */
  concurrency: number;
  process: (job: Job<StepJobPayload>, token: string | undefined) => Promise<void>;
  onError?: (err: Error, handler: string) => void;
};

/** How long a taken delivery stays locked to its worker without a renewal (renewed at half). */
export const DELIVERY_LOCK_MS = 10_000;
/** How often each worker looks for deliveries whose worker's lock has lapsed. */
export const STALLED_CHECK_MS = 5_000;

/** Decrements a fair-queueing outstanding count, never below zero (a flush reset it). */
const TAKE_SCRIPT = `local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`;

/** Consumers of the step queues; close() stops taking jobs and waits for running ones. */
export class StepConsumer {
  readonly #workers: Worker<StepJobPayload>[];

  constructor(options: StepConsumerOptions) {
    assertQueuePrefixFits(options.connection, options.prefix ?? DEFAULT_QUEUE_PREFIX);
    const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
    this.#workers = options.handlers.map((handler) => {
      const queueName = queueNameForHandler(handler);
      const countsKey = fairCountsKey(prefix, queueName);
      const process = async (job: Job<StepJobPayload>, token: string | undefined) => {
        // A taken job no longer counts against its namespace's share (fair-priority.ts).
        if (typeof job.data.fair === 'string' && job.attemptsMade === 0)
          await options.connection.eval(TAKE_SCRIPT, 1, countsKey, job.data.fair);
        await options.process(job, token);
      };
      const worker = new Worker<StepJobPayload>(queueName, process, {
        connection: options.connection,
        prefix,
        concurrency: options.concurrency,
        // The lease in Postgres is the authority on who runs a step; BullMQ's stalled-job check
        // covers a worker that died after taking a delivery and before claiming it (a claim
        // waiting for its batch). The scheduler counts an active job as present, so this check
        // alone brings such a step back: within DELIVERY_LOCK_MS + STALLED_CHECK_MS, not
        // BullMQ's default 30 s + 30 s. A live worker whose event loop stalls longer than the
        // lock gets its delivery again, which the claim fence turns into a no-op.
        lockDuration: DELIVERY_LOCK_MS,
        stalledInterval: STALLED_CHECK_MS,
        maxStalledCount: 5,
      });
      worker.on('error', (err) => options.onError?.(err, handler));
      return worker;
    });
  }

  /** Waits until every queue's blocking connection is ready. */
  async waitUntilReady(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.waitUntilReady()));
  }

  /** Stops taking jobs; with `force` false (default) waits for running jobs to finish. */
  async close(force = false): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.close(force)));
  }
}
