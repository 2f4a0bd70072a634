import { HealthSchema } from '@switchyard/client';
import { toError } from '@switchyard/core';
import { pendingMigrations } from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiDeps, ApiOptions } from '../deps.ts';
import type { FleetMetrics } from '../metrics.ts';

type Check = { ok: boolean; detail?: string };

async function check(fn: () => Promise<string | undefined>): Promise<Check> {
  try {
    const detail = await fn();
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
      { schema: { tags: ['health'], summary: 'The process is up', response: { 200: HealthSchema } } },
      async () => ({ status: 'ok' as const, checks: {} }),
    );
    app.get(
      '/health/ready',
      {
        schema: {
          tags: ['health'],
          summary: 'Postgres and Redis reachable, migrations current (503 otherwise)',
          response: { 200: HealthSchema, 503: HealthSchema },
        },
      },
      async (_request, reply) => {
        const checks = {
          postgres: await check(async () => void (await deps.pool.query('SELECT 1'))),
          redis: await check(async () => void (await deps.redis.ping())),
          migrations: await check(async () => {
            const pending = await pendingMigrations(deps.pool);
            if (pending.length > 0) throw new Error(`pending: ${pending.join(', ')}`);
            return undefined;
          }),
        };
        const ok = Object.values(checks).every((c) => c.ok);
        reply.code(ok ? 200 : 503);
        return { status: ok ? ('ok' as const) : ('fail' as const), checks };
      },
    );
    app.get(
      '/metrics',
      {
        config: options.metricsRequireKey ? { scope: 'operate' } : {},
        schema: { tags: ['health'], summary: 'Prometheus metrics of the fleet', produces: ['text/plain'] },
      },
      async (_request, reply) => {
        await metrics.refresh();
        reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    );
  };
}
