import { PostEventBodySchema, PostEventResponseSchema } from '@switchyard/client';
import { getTaskDetails } from '@switchyard/db';
import { startTasksForEvent } from '@switchyard/engine';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { pointKeyIssuesAtHeader } from '../idempotency-key.ts';
import { problems } from '../problem.ts';
import { redactTask } from '../redact.ts';
import { wire } from '../wire.ts';

const Headers = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe(
      'posting the event again with this key starts nothing new: the first post’s tasks are returned',
    ),
});

/** POST /v1/events: tasks started by an event another service posts. */
export function eventTriggerRoutes(deps: ApiDeps) {
  return async (r: FastifyInstance) => {
    r.withTypeProvider<ZodTypeProvider>().post(
      '/v1/events',
      {
        config: { scope: 'tasks:write' },
        schema: {
          operationId: 'postEvent',
          tags: ['events'],
          summary: 'Start the tasks of every template whose triggers list this event',
          description:
            'The payload becomes the context of each started task (the latest version of each template that lists the event). It is checked against every such template first: a payload one refuses starts none (400 naming the field and the template). 201 when a task was started; 200 when every task was a duplicate or no template listens.',
          headers: Headers,
          body: PostEventBodySchema,
          response: {
            200: PostEventResponseSchema,
            201: PostEventResponseSchema,
            ...problems(400, 401, 403, 413, 415, 503),
          },
        },
      },
      async (request, reply) => {
        const idempotencyKey = request.headers['idempotency-key'];
        const created = await startTasksForEvent(
          deps,
          {
            name: request.body.name,
            payload: request.body.payload ?? {},
            idempotencyKey: idempotencyKey ?? null,
          },
          request.principal.actor,
          { namespaces: request.principal.namespaces },
        ).catch(pointKeyIssuesAtHeader);
        const details = await getTaskDetails(
          deps.pool,
          created.map(({ task }) => task.id),
        );
        const tasks = created.map(({ task, duplicate }) => {
          const detail = details.get(task.id);
          return { duplicate, task: detail ? redactTask(detail) : null };
        });
        reply.code(created.some((c) => !c.duplicate) ? 201 : 200);
        return wire(PostEventResponseSchema, { event: request.body.name, tasks });
      },
    );
  };
}
