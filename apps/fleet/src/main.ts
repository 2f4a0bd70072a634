/**
 * The local fleet: worker and scheduler roles in one process, for development and demos.
 * In production each role runs in its own container (apps/worker, apps/scheduler).
 */
import { connect, runUntilSignal, startSchedulerRole, startWorkerRole } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { loadFleetEnv } from './env.ts';

const env = loadFleetEnv();
const logger = createLogger({ name: 'switchyard-fleet', level: env.LOG_LEVEL });

runUntilSignal(logger, async () => {
  const infra = connect(env, 'switchyard-fleet');
  const worker = await startWorkerRole(env, infra, logger);
  const scheduler = await startSchedulerRole(env, infra, logger);
  return [() => worker.stop(), () => scheduler.stop(), () => infra.close()];
});
