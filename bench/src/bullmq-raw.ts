import { randomUUID } from 'node:crypto';
import { createRedisConnection } from '@switchyard/queue';
import { Queue, Worker } from 'bullmq';
import { redisCommandCount } from './counters.ts';

/**
 * Raw BullMQ in the same run, the yardstick of `pnpm bench`: `count` no-op jobs added in bulk,
 * then processed by one worker with the engine's concurrency; jobs/s and Redis commands per job.
 */
export async function bullmqRaw(
  count: number,
  redisUrl: string,
  concurrency: number,
  sample: (scenario: string, metric: string, unit: string, value: number) => void,
): Promise<void> {
  const connection = createRedisConnection(redisUrl);
  const prefix = `bench-raw-${randomUUID().slice(0, 8)}`;
  const queue = new Queue('raw', { connection, prefix });
  const commandsBefore = await redisCommandCount(connection);
  for (let i = 0; i < count; i += 1000) {
    const size = Math.min(1000, count - i);
    await queue.addBulk(
      Array.from({ length: size }, (_, j) => ({
        name: 'noop',
        data: { i: i + j },
        opts: { removeOnComplete: true },
      })),
    );
  }
  let done = 0;
  const start = performance.now();
  const finished = new Promise<void>((resolve) => {
    const worker = new Worker('raw', async () => {}, { connection, prefix, concurrency });
    worker.on('completed', () => {
      done += 1;
      if (done === count) void worker.close().then(resolve);
    });
  });
  await finished;
  sample('bullmq_raw', 'jobs_per_s', 'jobs/s', count / ((performance.now() - start) / 1000));
  // Adding and processing, like redis_cmds_per_step of the engine.
  sample(
    'bullmq_raw',
    'redis_cmds_per_job',
    'commands',
    ((await redisCommandCount(connection)) - commandsBefore) / count,
  );
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
}
