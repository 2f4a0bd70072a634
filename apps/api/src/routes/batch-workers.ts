/** GET /v1/tasks/{id}/steps/{step}/batches: the workers of a batch group, a page at a time. */
import { BatchWorkerPageSchema, ListBatchWorkersQuerySchema } from '@switchyard/client';
import { NotFoundError } from '@switchyard/core';
import { listBatchWorkers } from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { redactSecrets } from '../redact.ts';
import { wire } from '../wire.ts';
import { assertTaskAccess, StepParams } from './task-access.ts';

export function registerBatchWorkers(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks/:id/steps/:step/batches',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'listBatchWorkers',
        tags: ['tasks'],
        summary: 'The workers of a batch group, in batch order, a page at a time',
        description:
          "`step` is the template's batch_worker step. The task itself shows the group as that one step with a summary, so a plan of 10,000 batches does not make it heavy; this lists the workers, optionally of one status.",
        params: StepParams,
        querystring: ListBatchWorkersQuerySchema,
        response: { 200: BatchWorkerPageSchema, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { id, step } = request.params;
      await assertTaskAccess(deps, request.principal, id);
      const page = await listBatchWorkers(deps.pool, id, step, request.query);
      if (!page) throw new NotFoundError(`task ${id} has no batch group named ${step}`);
      const workers = page.workers.map((worker) => ({
        ...worker,
        checkpoint: redactSecrets(worker.checkpoint),
        results: redactSecrets(worker.results),
        lastError: redactSecrets(worker.lastError),
      }));
      return wire(BatchWorkerPageSchema, { workers, nextAfter: page.nextAfter });
    },
  );
}
