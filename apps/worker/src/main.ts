/**
 * Worker process: env → dependencies → start → graceful stop.
 * Loads the team's handler modules by path, so Switchyard's worker runs handlers from the
 * team's own repository.
 */
import { connect, runUntilSignal, startWorkerRole, WORKER_CONNECTIONS } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { loadWorkerEnv } from './env.ts';

const env = loadWorkerEnv();
const logger = createLogger({ name: 'switchyard-worker', level: env.LOG_LEVEL });

runUntilSignal(logger, async () => {
  const infra = connect(env, 'switchyard-worker', WORKER_CONNECTIONS);
  const worker = await startWorkerRole(env, infra, logger);
  return [() => worker.stop(), () => infra.close()];
});
