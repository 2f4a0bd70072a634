/**
 * API process: env → dependencies → listen → graceful stop (stop accepting, finish in-flight
 * requests, then close the dispatcher, Redis and Postgres).
 */
import { connect, runUntilSignal } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { StepDispatcher } from '@switchyard/queue';
import { loadApiEnv } from './env.ts';
import { buildServer } from './server.ts';

const env = loadApiEnv();
const logger = createLogger({ name: 'switchyard-api', level: env.LOG_LEVEL });

runUntilSignal(logger, async () => {
  const infra = connect(env, 'switchyard-api');
  const dispatcher = new StepDispatcher({ connection: infra.redis, prefix: env.SWITCHYARD_QUEUE_PREFIX });
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
    },
  );
  await app.listen({ host: env.SWITCHYARD_API_HOST, port: env.SWITCHYARD_API_PORT });
  return [() => app.close(), () => dispatcher.close(), () => infra.close()];
});
