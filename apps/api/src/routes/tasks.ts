import {
  AttemptListSchema,
  CreateTaskBodySchema,
  CreateTaskResponseSchema,
  CreateUnavailableProblemSchema,
  ListTasksQuerySchema,
  OperatorBodySchema,
  ResolveBodySchema,
  TaskAttemptListSchema,
  TaskCountsQuerySchema,
  TaskCountsSchema,
  TaskPageSchema,
  TaskSchema,
  TaskStatusSchema,
  TransitionListSchema,
} from '@switchyard/client';
import { NotFoundError, TaskCreateUnavailableError, ValidationError } from '@switchyard/core';
import {
  countTasksByStatus,
  getTaskDetail,
  isDatabaseUnavailable,
  listStepAttempts,
  listTaskAttempts,
  listTasks,
  listTaskTransitions,
  type TaskDetail,
  taskNamespace,
} from '@switchyard/db';
import { cancelTask, createTask, type OperatorRequest, resolveStep, retryStep } from '@switchyard/engine';
import { contextFromTraceparent, context as traceContextApi } from '@switchyard/tracing';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertNamespace, mayTouch, type Principal } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { pointKeyIssuesAtHeader } from '../idempotency-key.ts';
import { problemResponse, problems } from '../problem.ts';
import { redactSecrets, redactTask } from '../redact.ts';
import { decodeCursor, encodeCursor, wire } from '../wire.ts';

const TaskParams = z.strictObject({ id: z.uuid() });
const StepParams = z.strictObject({ id: z.uuid(), step: z.string().min(1).max(100) });
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
 * Loads a task the caller may see, or throws NotFoundError. A task in a namespace the key may
 * not touch is answered exactly like an unknown id, so a key cannot learn that it exists or
 * where it lives.
 */
async function visibleTask(deps: ApiDeps, principal: Principal, id: string): Promise<TaskDetail> {
  const task = await getTaskDetail(deps.pool, id);
  if (!task || !mayTouch(principal, task.namespace)) throw new NotFoundError(`task ${id} does not exist`);
  return task;
}

/** A task as every response shows it: secrets in its context, results and errors redacted. */
async function shownTask(deps: ApiDeps, id: string): Promise<TaskDetail | null> {
  const task = await getTaskDetail(deps.pool, id);
  return task && redactTask(task);
}

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

/**
 * Checks the task exists and the caller may touch its namespace, before an operation; either
 * failure is the same 404 (see visibleTask).
 */
async function assertTaskAccess(deps: ApiDeps, principal: Principal, id: string): Promise<void> {
  const namespace = await taskNamespace(deps.pool, id);
  if (!namespace || !mayTouch(principal, namespace)) throw new NotFoundError(`task ${id} does not exist`);
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
    registerReads(app, deps);
    registerOperations(app, deps);
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

function registerReads(app: FastifyInstance, deps: ApiDeps) {
  registerGetTask(app, deps);
  registerListTasks(app, deps);
  registerCountTasks(app, deps);
  registerTransitions(app, deps);
  registerAttempts(app, deps);
  registerTaskAttempts(app, deps);
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
        ...filter,
        ...(createdAfter ? { createdAfter: new Date(createdAfter) } : {}),
        ...(createdBefore ? { createdBefore: new Date(createdBefore) } : {}),
        ...(position ? { cursor: position } : {}),
        ...(request.principal.namespaces ? { namespaces: request.principal.namespaces } : {}),
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
      const found = await countTasksByStatus(deps.pool, {
        ...filter,
        ...(createdAfter ? { createdAfter: new Date(createdAfter) } : {}),
        ...(createdBefore ? { createdBefore: new Date(createdBefore) } : {}),
        ...(request.principal.namespaces ? { namespaces: request.principal.namespaces } : {}),
      });
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

function registerOperations(app: FastifyInstance, deps: ApiDeps) {
  registerOperation(app, deps, {
    path: '/v1/tasks/:id/cancel',
    operationId: 'cancelTask',
    summary: 'Cancel a task: nothing more runs; running handlers are aborted',
    params: TaskParams,
    body: OperatorBodySchema,
    run: ({ id }, body, actor) => cancelTask(deps, id, operatorRequest(actor, body)),
  });
  registerOperation(app, deps, {
    path: '/v1/tasks/:id/steps/:step/retry',
    operationId: 'retryStep',
    summary: 'Give a failed step fresh attempts; the task resumes from there',
    params: StepParams,
    body: OperatorBodySchema,
    run: ({ id, step }, body, actor) => retryStep(deps, id, step, operatorRequest(actor, body)),
  });
  registerOperation(app, deps, {
    path: '/v1/tasks/:id/steps/:step/resolve',
    operationId: 'resolveStep',
    summary: 'Resolve a step by hand, with optional results; its dependents proceed',
    params: StepParams,
    body: ResolveBodySchema,
    run: ({ id, step }, body, actor) =>
      resolveStep(deps, id, step, {
        ...operatorRequest(actor, body),
        ...(body.results === undefined ? {} : { results: body.results }),
      }),
  });
}

/** What sets one operator route apart; scope, access check and answer are shared (registerOperation). */
type OperationRoute<P extends z.ZodType<{ id: string }>, B extends z.ZodType> = {
  path: string;
  operationId: string;
  summary: string;
  params: P;
  body: B;
  /** Changes the task the caller may touch; its errors become problem documents (problem.ts). */
  run(params: z.output<P>, body: z.output<B>, actor: string): Promise<unknown>;
};

/**
 * POST {path} under scope `operate`: checks the caller may touch the task (404 otherwise, as
 * for an unknown id), runs the operation and answers with the task as it is afterwards.
 */
function registerOperation<P extends z.ZodType<{ id: string }>, B extends z.ZodType>(
  app: FastifyInstance,
  deps: ApiDeps,
  route: OperationRoute<P, B>,
) {
  const options = {
    config: { scope: 'operate' as const },
    schema: {
      operationId: route.operationId,
      tags: ['operations'],
      summary: route.summary,
      params: route.params,
      // No body at all arrives as null: the reason is optional.
      body: route.body.nullish(),
      response: { 200: TaskSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 503) },
    },
  };
  app.withTypeProvider<ZodTypeProvider>().post(route.path, options, async (request) => {
    // The schemas above have parsed both; the generic route cannot carry their types to here.
    const params = request.params as z.output<P>;
    const body = (request.body ?? {}) as z.output<B>;
    await assertTaskAccess(deps, request.principal, params.id);
    await route.run(params, body, request.principal.actor);
    return wire(TaskSchema, await shownTask(deps, params.id));
  });
}

/** The operator and, when given, the reason every operation records in the audit trail. */
function operatorRequest(actor: string, body: { reason?: string | undefined }): OperatorRequest {
  return { actor, ...(body.reason ? { reason: body.reason } : {}) };
}

function headerString(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
