/** The task read routes: one task, the list and its counts, the audit trail and the attempts. */
import {
  AttemptListSchema,
  ListTasksQuerySchema,
  TaskAttemptListSchema,
  TaskCountsQuerySchema,
  TaskCountsSchema,
  TaskPageSchema,
  TaskSchema,
  TaskStatusSchema,
  TransitionListSchema,
} from '@switchyard/client';
import { NotFoundError, ValidationError } from '@switchyard/core';
import {
  countTasksByStatus,
  listStepAttempts,
  listTaskAttempts,
  listTasks,
  listTaskTransitions,
} from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { assertNamespace, type Principal } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { redactSecrets, redactTask } from '../redact.ts';
import { decodeCursor, encodeCursor, wire } from '../wire.ts';
import { registerBatchWorkers } from './batch-workers.ts';
import { assertTaskAccess, StepParams, TaskParams, visibleTask } from './task-access.ts';

export function registerTaskReads(app: FastifyInstance, deps: ApiDeps) {
  registerGetTask(app, deps);
  registerListTasks(app, deps);
  registerCountTasks(app, deps);
  registerTransitions(app, deps);
  registerAttempts(app, deps);
  registerTaskAttempts(app, deps);
  registerBatchWorkers(app, deps);
}

/**
 * The filters of the list and the counts as db takes them: dates parsed, and a key restricted to
 * some namespaces sees only theirs.
 */
function taskFilter<F extends object>(
  filter: F,
  createdAfter: string | undefined,
  createdBefore: string | undefined,
  principal: Principal,
) {
  return {
    ...filter,
    ...(createdAfter ? { createdAfter: new Date(createdAfter) } : {}),
    ...(createdBefore ? { createdBefore: new Date(createdBefore) } : {}),
    ...(principal.namespaces ? { namespaces: principal.namespaces } : {}),
  };
}

/** GET /v1/tasks/{id} */
function registerGetTask(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks/:id',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'getTask',
        tags: ['tasks'],
        summary: 'A task with its steps',
        params: TaskParams,
        response: { 200: TaskSchema, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) =>
      wire(TaskSchema, redactTask(await visibleTask(deps, request.principal, request.params.id))),
  );
}

/** GET /v1/tasks */
function registerListTasks(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'listTasks',
        tags: ['tasks'],
        summary: 'Tasks matching the filters, newest first, one page at a time',
        querystring: ListTasksQuerySchema,
        response: { 200: TaskPageSchema, ...problems(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const { cursor, createdAfter, createdBefore, ...filter } = request.query;
      if (filter.namespace) assertNamespace(request.principal, filter.namespace);
      const position = cursor === undefined ? undefined : decodeCursor(cursor);
      if (position === null) {
        throw new ValidationError('invalid query', [
          { path: '/query/cursor', rule: 'cursor', message: 'is not a cursor returned by this API' },
        ]);
      }
      const page = await listTasks(deps.pool, {
        ...taskFilter(filter, createdAfter, createdBefore, request.principal),
        ...(position ? { cursor: position } : {}),
      });
      const nextCursor = page.nextCursor ? encodeCursor(page.nextCursor) : null;
      return wire(TaskPageSchema, { tasks: page.tasks, nextCursor });
    },
  );
}

/** GET /v1/tasks/counts */
function registerCountTasks(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks/counts',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'countTasks',
        tags: ['tasks'],
        summary: 'How many tasks match the filters, per status',
        description: 'The filters of GET /v1/tasks except status; every status is present (0 when none).',
        querystring: TaskCountsQuerySchema,
        response: { 200: TaskCountsSchema, ...problems(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const { createdAfter, createdBefore, ...filter } = request.query;
      if (filter.namespace) assertNamespace(request.principal, filter.namespace);
      const found = await countTasksByStatus(
        deps.pool,
        taskFilter(filter, createdAfter, createdBefore, request.principal),
      );
      const counts = Object.fromEntries(
        TaskStatusSchema.options.map((status) => [status, found[status] ?? 0]),
      );
      const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
      return wire(TaskCountsSchema, { counts, total });
    },
  );
}

/** GET /v1/tasks/{id}/transitions */
function registerTransitions(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks/:id/transitions',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'getTransitions',
        tags: ['tasks'],
        summary: "The task's audit trail: every task and step status change, in order",
        params: TaskParams,
        response: { 200: TransitionListSchema, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      await assertTaskAccess(deps, request.principal, request.params.id);
      return wire(TransitionListSchema, {
        transitions: (await listTaskTransitions(deps.pool, request.params.id)).map((transition) => ({
          ...transition,
          metadata: redactSecrets(transition.metadata),
        })),
      });
    },
  );
}

/** GET /v1/tasks/{id}/steps/{step}/attempts */
function registerAttempts(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks/:id/steps/:step/attempts',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'getAttempts',
        tags: ['tasks'],
        summary: 'The attempt history of one step',
        params: StepParams,
        response: { 200: AttemptListSchema, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { id, step } = request.params;
      await assertTaskAccess(deps, request.principal, id);
      const attempts = await listStepAttempts(deps.pool, id, step);
      if (!attempts) throw new NotFoundError(`task ${id} has no step named ${step}`);
      return wire(AttemptListSchema, { attempts });
    },
  );
}

/** GET /v1/tasks/{id}/attempts */
function registerTaskAttempts(r: FastifyInstance, deps: ApiDeps) {
  r.withTypeProvider<ZodTypeProvider>().get(
    '/v1/tasks/:id/attempts',
    {
      config: { scope: 'tasks:read' },
      schema: {
        operationId: 'getTaskAttempts',
        tags: ['tasks'],
        summary: 'Every attempt of every step of the task, in the order they started',
        description: "One request for the whole task's timeline instead of one per step.",
        params: TaskParams,
        response: { 200: TaskAttemptListSchema, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      await assertTaskAccess(deps, request.principal, request.params.id);
      return wire(TaskAttemptListSchema, { attempts: await listTaskAttempts(deps.pool, request.params.id) });
    },
  );
}
