/** The operator routes of a task: cancel it, retry or resolve one of its steps. */
import { OperatorBodySchema, ResolveBodySchema, TaskSchema } from '@switchyard/client';
import { cancelTask, type OperatorRequest, resolveStep, retryStep } from '@switchyard/engine';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { wire } from '../wire.ts';
import { assertTaskAccess, StepParams, shownTask, TaskParams } from './task-access.ts';

export function registerTaskOperations(app: FastifyInstance, deps: ApiDeps) {
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
    summary:
      'Resolve a step by hand, with optional results; its dependents proceed (a decision step: with the steps it chose)',
    params: StepParams,
    body: ResolveBodySchema,
    run: ({ id, step }, body, actor) =>
      resolveStep(deps, id, step, {
        ...operatorRequest(actor, body),
        ...(body.results === undefined ? {} : { results: body.results }),
        ...(body.chosen === undefined ? {} : { chosen: body.chosen }),
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
