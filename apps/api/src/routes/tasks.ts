import {
  CreateTaskBodySchema,
  CreateTaskResponseSchema,
  CreateUnavailableProblemSchema,
} from '@switchyard/client';
import { TaskCreateUnavailableError, ValidationError } from '@switchyard/core';
import { isDatabaseUnavailable } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import { contextFromTraceparent, context as traceContextApi } from '@switchyard/tracing';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertNamespace } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { pointKeyIssuesAtHeader } from '../idempotency-key.ts';
import { problemResponse, problems } from '../problem.ts';
import { wire } from '../wire.ts';
import { shownTask } from './task-access.ts';
import { registerTaskOperations } from './task-operations.ts';
import { registerTaskReads } from './task-reads.ts';

const CreateHeaders = z.object({
  'idempotency-key': z.string().min(1).max(200).optional().describe('dedupes creates by this key'),
  'switchyard-retry-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe(
      "a key the typed client makes for one create without an Idempotency-Key and sends again on its own retries: dedupes those retries of a unique-identity template (the other identities dedupe them already); never stands in for a caller_key template's key",
    ),
  'x-correlation-id': z.string().min(1).max(200).optional(),
});

/**
 * The engine reports a context's problems relative to the context (`/email`); in a response
 * to the whole body they must point into it (`/context/email`).
 */
function rebaseContextIssues(err: unknown): never {
  if (err instanceof ValidationError && err.message.startsWith('invalid task context')) {
    throw new ValidationError(
      'invalid task context',
      err.issues.map((issue) => ({ ...issue, path: `/context${issue.path}` })),
      { cause: err },
    );
  }
  throw err;
}

/** The task is committed but could not be read back: its create must not be answered as not done. */
function committedButUnread(err: unknown): never {
  if (isDatabaseUnavailable(err)) throw new TaskCreateUnavailableError(true, { cause: err });
  throw err;
}

/** Task routes: create, read, list, audit trail, attempts, and the operator operations. */
export function taskRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    registerCreate(app, deps);
    registerTaskReads(app, deps);
    registerTaskOperations(app, deps);
  };
}

function registerCreate(r: FastifyInstance, deps: ApiDeps) {
  const app = r.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/v1/tasks',
    {
      config: { scope: 'tasks:write' },
      schema: {
        operationId: 'createTask',
        tags: ['tasks'],
        summary: 'Start a task from a registered template',
        description:
          '201 with the new task; 200 with `duplicate: true` and the existing task when one with the same identity exists.',
        headers: CreateHeaders,
        body: CreateTaskBodySchema,
        response: {
          200: CreateTaskResponseSchema,
          201: CreateTaskResponseSchema,
          ...problems(400, 401, 403, 404, 413, 415),
          503: problemResponse(
            503,
            CreateUnavailableProblemSchema,
            'The database failed. `task_may_exist` says whether the task may have been created (code `outcome_unknown`: the insert had been sent when it failed) or not (`database_unavailable`). Retry with the same `Idempotency-Key` either way: a task an earlier attempt made is returned, not made twice. Without a key, a retry of a `unique`-identity create makes a second task; the typed client sends a `Switchyard-Retry-Key` of its own to prevent that.',
          ),
        },
      },
    },
    async (request, reply) => {
      assertNamespace(request.principal, request.body.namespace);
      const idempotencyKey = request.headers['idempotency-key'];
      const retryKey = request.headers['switchyard-retry-key'];
      // A caller's traceparent makes the task (and every step of it) part of the caller's trace.
      const caller = contextFromTraceparent(headerString(request.headers.traceparent));
      const created = await traceContextApi
        .with(caller, () =>
          createTask(
            deps,
            {
              ...request.body,
              // The request's correlation id (given or made up) follows the task it creates.
              correlationId: request.body.correlationId ?? request.id,
              ...(idempotencyKey ? { idempotencyKey } : {}),
              ...(retryKey ? { retryKey } : {}),
            },
            request.principal.actor,
            { visibleNamespaces: request.principal.namespaces },
          ),
        )
        .catch(rebaseContextIssues)
        .catch(pointKeyIssuesAtHeader);
      const task = await shownTask(deps, created.task.id).catch(committedButUnread);
      reply.code(created.duplicate ? 200 : 201).header('location', `/v1/tasks/${created.task.id}`);
      return wire(CreateTaskResponseSchema, { duplicate: created.duplicate, task });
    },
  );
}

function headerString(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
