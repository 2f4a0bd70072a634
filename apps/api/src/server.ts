/**
 * The HTTP API as a Fastify instance: zod-validated requests and responses, an OpenAPI 3.1
 * document derived from the same schemas, API key auth, problem+json errors.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import { ValidationError } from '@switchyard/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { installAuth } from './auth.ts';
import { watchRedis } from './dependencies.ts';
import { type ApiDeps, type ApiOptions, DEFAULT_API_TIMEOUTS } from './deps.ts';
import { findUnstorableInput } from './input-guard.ts';
import { createFleetMetrics } from './metrics.ts';
import { openapiOptions } from './openapi.ts';
import { frameworkErrorHandler, installProblemHandlers } from './problem.ts';
import { breakerRoutes } from './routes/breakers.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { docsRoutes } from './routes/docs.ts';
import { eventTriggerRoutes } from './routes/event-triggers.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { limitRoutes } from './routes/limits.ts';
import { queueRoutes } from './routes/queues.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { taskRoutes } from './routes/tasks.ts';
import { templateRoutes } from './routes/templates.ts';
import { webhookRoutes } from './routes/webhooks.ts';

const CORRELATION_HEADER = 'x-correlation-id';

/** Builds the API server (not listening yet). The caller owns `deps` and closes them after the server. */
export async function buildServer(deps: ApiDeps, options: ApiOptions): Promise<FastifyInstance> {
  const timeouts = { ...DEFAULT_API_TIMEOUTS, ...options.timeouts };
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // A client that sends its request slowly (one byte every few seconds) gets a 408 and is cut
    // off once the whole request has taken requestMs; Node checks every connectionsCheckingInterval
    // (30 s by default, which would let a 30 s limit run to 60 s).
    requestTimeout: timeouts.requestMs,
    http: {
      headersTimeout: timeouts.headersMs,
      connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs),
    },
    // The last resort for a request nothing else bounds: a silent connection is closed.
    connectionTimeout: timeouts.idleMs,
    // Room for any step name (≤ 100) or dependent system (≤ 200); longer ones get a 414 problem.
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: frameworkErrorHandler,
    // The caller's correlation id names the request in every log line; one is made up otherwise.
    genReqId: (request) => {
      const given = request.headers[CORRELATION_HEADER];
      return typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomUUID();
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: a text/plain body gets 415 instead of failing validation as a string.
  app.removeContentTypeParser('text/plain');
  installProblemHandlers(app);
  const unwatch = watchRedis(deps.redis, deps.logger);
  app.addHook('onClose', async () => unwatch());
  app.addHook('onSend', async (request, reply) => {
    reply.header(CORRELATION_HEADER, request.id);
  });
  app.addHook('preValidation', async (request) => rejectUnstorable(request));
  installAuth(app, { pool: deps.pool, disabled: options.authDisabled });
  await app.register(swagger, openapiOptions());
  const metrics = createFleetMetrics(deps, timeouts.redisMs);
  await app.register(taskRoutes(deps));
  await app.register(eventTriggerRoutes(deps));
  await app.register(eventRoutes(deps, options.events));
  await app.register(templateRoutes(deps));
  await app.register(breakerRoutes(deps));
  await app.register(limitRoutes(deps));
  await app.register(
    webhookRoutes(deps, { allowPrivateTargets: options.allowPrivateWebhookTargets ?? false }),
  );
  await app.register(scheduleRoutes(deps));
  await app.register(queueRoutes(deps, timeouts.redisMs));
  await app.register(healthRoutes(deps, options, metrics));
  await app.register(docsRoutes);
  await app.register(dashboardRoutes(options.dashboardDir));
  return app;
}

function rejectUnstorable(request: { body?: unknown; query?: unknown; params?: unknown }): void {
  const issues = [
    ...findUnstorableInput(request.body),
    ...findUnstorableInput(request.query, '/query'),
    ...findUnstorableInput(request.params, '/params'),
  ];
  if (issues.length > 0) throw new ValidationError('invalid request', issues);
}
