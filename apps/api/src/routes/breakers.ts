import {
  BreakerActionBodySchema,
  BreakerActionSchema,
  BreakerDetailSchema,
  BreakerListSchema,
  BreakerSchema,
} from '@switchyard/client';
import { NotFoundError } from '@switchyard/core';
import {
  forceBreaker,
  listBreakers,
  listBreakerTransitions,
  listHeldSteps,
  withTransaction,
} from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertUnrestricted } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { wire } from '../wire.ts';

const SystemParams = z.strictObject({ system: z.string().min(1).max(200) });
const BreakerParams = SystemParams.extend({ action: BreakerActionSchema });

/** Breaker routes: every breaker's state and evidence, and the operators' overrides. */
export function breakerRoutes(deps: ApiDeps) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/v1/breakers',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'listBreakers',
          tags: ['breakers'],
          summary: 'Every circuit breaker: state, recent calls and failures, held steps, probes in flight',
          response: { 200: BreakerListSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async () => wire(BreakerListSchema, { breakers: await listBreakers(deps.pool) }),
    );
    app.get(
      '/v1/breakers/:system',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'getBreaker',
          tags: ['breakers'],
          summary: 'One breaker with its transition log (the evidence of each change) and its held steps',
          description: 'Held steps are limited to the namespaces of a restricted key.',
          params: SystemParams,
          response: { 200: BreakerDetailSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { system } = request.params;
        const [breaker] = await listBreakers(deps.pool, { dependentSystem: system });
        if (!breaker) throw new NotFoundError(`dependent system ${system} has no breaker`);
        const namespaces = request.principal.namespaces ?? undefined;
        const [transitions, heldSteps] = await Promise.all([
          listBreakerTransitions(deps.pool, system),
          listHeldSteps(deps.pool, { dependentSystem: system, ...(namespaces ? { namespaces } : {}) }),
        ]);
        return wire(BreakerDetailSchema, { breaker, transitions, heldSteps });
      },
    );
    app.post(
      '/v1/breakers/:system/:action',
      {
        config: { scope: 'operate' },
        schema: {
          operationId: 'forceBreaker',
          tags: ['breakers'],
          summary: 'Force a breaker open or closed, or reset it to be decided by the history again',
          description:
            'Audited with the key and the reason. Needs a key not restricted to namespaces. 404 for a dependent system that no registered template calls and that has no breaker.',
          params: BreakerParams,
          body: BreakerActionBodySchema,
          response: { 200: BreakerSchema, ...problems(400, 401, 403, 404, 413, 415, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'forcing a breaker');
        const { system, action } = request.params;
        const view = await withTransaction(deps.pool, (client) =>
          forceBreaker(client, {
            dependentSystem: system,
            action,
            actor: request.principal.actor,
            reason: request.body.reason,
          }),
        );
        request.log.warn(
          { dependent_system: system, action, actor: request.principal.actor },
          'breaker forced',
        );
        return wire(BreakerSchema, view);
      },
    );
  };
}
