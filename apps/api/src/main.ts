/**
 * API process: env → dependencies → listen → graceful stop (stop accepting, finish in-flight
 * requests, then close the dispatcher, Redis and Postgres).
 */
import { connect, runUntilSignal } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { failFastRedisOptions, StepDispatcher } from '@switchyard/queue';
import { loadApiEnv } from './env.ts';
import { buildServer } from './server.ts';

const env = loadApiEnv();
const logger = createLogger({ name: 'switchyard-api', level: env.LOG_LEVEL });

runUntilSignal(logger, async () => {
  // A request never waits on a dependency that is down: Redis commands fail at once (Postgres
  // holds the truth; the scheduler dispatches what the API could not), Postgres gives a
  // connection or a statement a bounded time.
  const infra = connect(env, 'switchyard-api', {
    pool: {
      connectionTimeoutMillis: env.SWITCHYARD_API_DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMillis: env.SWITCHYARD_API_STATEMENT_TIMEOUT_MS,
    },
    redis: failFastRedisOptions(env.SWITCHYARD_API_REDIS_TIMEOUT_MS),
  });
  const dispatcher = new StepDispatcher({
    connection: infra.redis,
    prefix: env.SWITCHYARD_QUEUE_PREFIX,
    timeoutMs: env.SWITCHYARD_API_REDIS_TIMEOUT_MS,
    namespaceWeights: env.SWITCHYARD_NAMESPACE_WEIGHTS,
  });
  if (env.SWITCHYARD_API_AUTH_DISABLED) {
    logger.warn(
      'AUTHENTICATION IS DISABLED (SWITCHYARD_API_AUTH_DISABLED=true): every request acts as an admin. Local development only.',
    );
  }
  const app = await buildServer(
    { pool: infra.pool, redis: infra.redis, dispatcher, queuePrefix: env.SWITCHYARD_QUEUE_PREFIX, logger },
    {
      authDisabled: env.SWITCHYARD_API_AUTH_DISABLED,
      bodyLimit: env.SWITCHYARD_API_BODY_LIMIT,
      metricsRequireKey: env.SWITCHYARD_METRICS_REQUIRE_KEY,
      timeouts: {
        headersMs: env.SWITCHYARD_API_HEADERS_TIMEOUT_MS,
        requestMs: env.SWITCHYARD_API_REQUEST_TIMEOUT_MS,
        idleMs: env.SWITCHYARD_API_IDLE_TIMEOUT_MS,
        redisMs: env.SWITCHYARD_API_REDIS_TIMEOUT_MS,
      },
      events: { pollMs: env.SWITCHYARD_API_EVENT_POLL_MS },
      allowPrivateWebhookTargets: env.SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS,
    },
  );
  await app.listen({ host: env.SWITCHYARD_API_HOST, port: env.SWITCHYARD_API_PORT });
  return [() => app.close(), () => dispatcher.close(), () => infra.close()];
});
