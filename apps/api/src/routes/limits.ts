import {
  LimitOverrideBodySchema,
  LimitResetBodySchema,
  ServiceLimitDetailSchema,
  ServiceLimitListSchema,
  ServiceLimitSchema,
} from '@switchyard/client';
import { NotFoundError } from '@switchyard/core';
import {
  listServiceLimitChanges,
  listServiceLimits,
  overrideServiceLimit,
  type ServiceLimitView,
  withTransaction,
} from '@switchyard/db';
import { releaseWaitersOf } from '@switchyard/engine';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertUnrestricted } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { wire } from '../wire.ts';

const SystemParams = z.strictObject({ system: z.string().min(1).max(200) });

/** Bulkhead routes: each limited system's limit, in flight and waiting, and the operators' override. */
export function limitRoutes(deps: ApiDeps) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/v1/limits',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'listLimits',
          tags: ['breakers'],
          summary: 'Every limited dependent system: its limit in force, calls in flight, steps waiting',
          response: { 200: ServiceLimitListSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async () => wire(ServiceLimitListSchema, { limits: await listServiceLimits(deps.pool) }),
    );
    app.get(
      '/v1/limits/:system',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'getLimit',
          tags: ['breakers'],
          summary: 'One system’s limit with the changes of the limit in force (who, why, when)',
          params: SystemParams,
          response: { 200: ServiceLimitDetailSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { system } = request.params;
        const [limit] = await listServiceLimits(deps.pool, { dependentSystem: system });
        if (!limit) throw new NotFoundError(`dependent system ${system} has no limit`);
        const changes = await listServiceLimitChanges(deps.pool, { dependentSystem: system });
        return wire(ServiceLimitDetailSchema, {
          limit,
          changes: changes.map(({ createdAt, ...change }) => ({ ...change, at: createdAt })),
        });
      },
    );
    app.post(
      '/v1/limits/:system/override',
      {
        config: { scope: 'operate' },
        schema: {
          operationId: 'overrideLimit',
          tags: ['breakers'],
          summary: 'Put an operator’s limit in force instead of the configured one',
          description:
            'A field omitted or null is not limited. Audited with the key and the reason. Needs a key not restricted to namespaces. 404 for a dependent system that no registered template calls.',
          params: SystemParams,
          body: LimitOverrideBodySchema,
          response: { 200: ServiceLimitSchema, ...problems(400, 401, 403, 404, 413, 415, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'overriding a limit');
        const { system } = request.params;
        const { reason, maxConcurrent, rate, burst } = request.body;
        const limit = {
          maxConcurrent: maxConcurrent ?? null,
          rate: rate ?? null,
          burst: rate == null ? null : (burst ?? Math.max(1, Math.ceil(rate))),
        };
        const view = await withTransaction(deps.pool, (client) =>
          overrideServiceLimit(client, {
            dependentSystem: system,
            limit,
            reason,
            actor: request.principal.actor,
          }),
        );
        request.log.warn(
          { dependent_system: system, limit, actor: request.principal.actor },
          'limit overridden',
        );
        return wire(ServiceLimitSchema, await releaseAdmitted(deps, system, request.log, view));
      },
    );
    app.post(
      '/v1/limits/:system/reset',
      {
        config: { scope: 'operate' },
        schema: {
          operationId: 'resetLimit',
          tags: ['breakers'],
          summary: 'Remove the operator’s override: the configured limit is in force again',
          description: 'Audited with the key and the reason. Needs a key not restricted to namespaces.',
          params: SystemParams,
          body: LimitResetBodySchema,
          response: { 200: ServiceLimitSchema, ...problems(400, 401, 403, 404, 413, 415, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'resetting a limit');
        const { system } = request.params;
        const view = await withTransaction(deps.pool, (client) =>
          overrideServiceLimit(client, {
            dependentSystem: system,
            limit: null,
            reason: request.body.reason,
            actor: request.principal.actor,
          }),
        );
        request.log.warn(
          { dependent_system: system, actor: request.principal.actor },
          'limit override removed',
        );
        return wire(ServiceLimitSchema, await releaseAdmitted(deps, system, request.log, view));
      },
    );
  };
}

/**
 * After an operator changed a limit: starts the waiting steps the new limit admits at once (a
 * raised limit would otherwise wait for the scheduler's next sweep) and answers with the counts
 * after that release. Their state is committed before the dispatch; when Redis refuses the
 * dispatch, the scheduler's sweep dispatches them, so the change itself still succeeds.
 */
async function releaseAdmitted(
  deps: ApiDeps,
  system: string,
  log: FastifyBaseLogger,
  view: ServiceLimitView,
): Promise<ServiceLimitView> {
  try {
    await releaseWaitersOf({ ...deps, log: deps.logger, actor: 'api:limit-change' }, system);
  } catch (err) {
    log.warn({ err, dependent_system: system }, 'release after a limit change failed; left to the scheduler');
    return view;
  }
  const [after] = await listServiceLimits(deps.pool, { dependentSystem: system });
  return after ?? view;
}
