import { HealthSchema, ProblemSchema } from '@switchyard/client';
import { toError } from '@switchyard/core';
import { pendingMigrations } from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { withDeadline } from '../dependencies.ts';
import type { ApiDeps, ApiOptions } from '../deps.ts';
import type { FleetMetrics } from '../metrics.ts';
import { PROBLEM_MEDIA_TYPE, problem, problemResponse, problems } from '../problem.ts';

type Check = { ok: boolean; detail?: string };

/** A failed readiness check: a problem document that also carries every check (an RFC 9457 extension member). */
const NotReadySchema = ProblemSchema.extend({ checks: HealthSchema.shape.checks }).meta({ id: 'NotReady' });

const MetricsText = {
  description: 'Prometheus text exposition format',
  content: { 'text/plain': { schema: z.string() } },
};

// Readiness answers within 2 s whatever is down: each check gets this long, all run at once.
const CHECK_MS = 1_500;

async function check(what: string, fn: () => Promise<string | undefined>): Promise<Check> {
  try {
    const detail = await withDeadline(fn(), CHECK_MS, what);
    return detail ? { ok: true, detail } : { ok: true };
  } catch (err) {
    return { ok: false, detail: toError(err).message };
  }
}

/** Liveness, readiness (Postgres, Redis, migrations) and the Prometheus metrics. */
export function healthRoutes(deps: ApiDeps, options: ApiOptions, metrics: FleetMetrics) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/health/live',
      {
        schema: {
          operationId: 'getLiveness',
          tags: ['health'],
          summary: 'The process is up',
          response: { 200: HealthSchema, ...problems(400) },
        },
      },
      async () => ({ status: 'ok' as const, checks: {} }),
    );
    app.get(
      '/health/ready',
      {
        schema: {
          operationId: 'getReadiness',
          tags: ['health'],
          summary: 'Postgres and Redis reachable, migrations current (503 otherwise)',
          response: {
            200: HealthSchema,
            ...problems(400),
            503: problemResponse(
              503,
              NotReadySchema,
              'Not ready: `detail` names the failed checks, `checks` holds all of them',
            ),
          },
        },
      },
      async (request, reply) => {
        const [postgres, redis, migrations] = await Promise.all([
          check('Postgres', async () => void (await deps.pool.query('SELECT 1'))),
          check('Redis', async () => void (await deps.redis.ping())),
          check('Postgres', async () => {
            const pending = await pendingMigrations(deps.pool);
            if (pending.length > 0) throw new Error(`pending: ${pending.join(', ')}`);
            return undefined;
          }),
        ]);
        const checks = { postgres, redis, migrations };
        const failed = Object.entries(checks).filter(([, c]) => !c.ok);
        if (failed.length === 0) return reply.code(200).send({ status: 'ok' as const, checks });
        const detail = `not ready: ${failed.map(([name, c]) => `${name} (${c.detail ?? 'failed'})`).join('; ')}`;
        return reply
          .code(503)
          .type(PROBLEM_MEDIA_TYPE)
          .send({ ...problem('not_ready', detail), instance: request.url, checks });
      },
    );
    app.get(
      '/metrics',
      {
        config: options.metricsRequireKey ? { scope: 'operate' } : {},
        schema: {
          operationId: 'getMetrics',
          tags: ['health'],
          summary: 'Prometheus metrics of the fleet',
          response: {
            200: MetricsText,
            ...(options.metricsRequireKey ? problems(400, 401, 403, 503) : problems(400, 503)),
          },
        },
      },
      async (_request, reply) => {
        await metrics.refresh();
        reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    );
  };
}
