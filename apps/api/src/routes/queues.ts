import { QueueListSchema } from '@switchyard/client';
import { countOpenStepsByType, type LiveWorkerView, listLiveWorkers, listStepTypes } from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { fromRedis } from '../dependencies.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { wire } from '../wire.ts';

// Workers beat every 10 s by default; three missed beats mean the worker is gone (as the
// scheduler judges unserved steps).
const WORKER_LIVENESS_MS = 30_000;

/**
 * Queue routes: each step type's queue depth and the workers consuming it. Without Redis
 * (no answer within `redisMs`) the answer is a 503 naming Redis.
 */
export function queueRoutes(deps: ApiDeps, redisMs: number) {
  return async (root: FastifyInstance) => {
    root.withTypeProvider<ZodTypeProvider>().get(
      '/v1/queues',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'listQueues',
          tags: ['queues'],
          summary: "Every step type's queue: jobs by state, open steps, and the live workers consuming it",
          description:
            'One queue per step type of the registered templates. Jobs are read from Redis, steps from Postgres.',
          response: { 200: QueueListSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async () => {
        const [stepTypes, steps, workers] = await Promise.all([
          listStepTypes(deps.pool),
          countOpenStepsByType(deps.pool),
          listLiveWorkers(deps.pool, WORKER_LIVENESS_MS),
        ]);
        const counts = await fromRedis(
          () =>
            Promise.all(
              stepTypes.map((stepType) =>
                deps.dispatcher.queue(stepType).getJobCounts('wait', 'prioritized', 'delayed', 'active'),
              ),
            ),
          redisMs,
          'queue depths',
        );
        const queues = stepTypes.map((stepType, i) => {
          const jobs = counts[i] ?? {};
          return {
            stepType,
            jobs,
            depth: (jobs.wait ?? 0) + (jobs.prioritized ?? 0),
            steps: steps[stepType] ?? {},
            workers: consumersOf(workers, stepType),
          };
        });
        return wire(QueueListSchema, { queues });
      },
    );
  };
}

function consumersOf(workers: LiveWorkerView[], stepType: string) {
  return workers
    .filter((worker) => worker.handlers.includes(stepType))
    .map(({ id, hostname, pid, concurrency, lastSeenAt }) => ({
      id,
      hostname,
      pid,
      concurrency,
      lastSeenAt,
    }));
}
