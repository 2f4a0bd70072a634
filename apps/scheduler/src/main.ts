/** Scheduler process: env → dependencies → start → graceful stop. Safe to run as several replicas. */
import { connect, runUntilSignal, startSchedulerRole } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { loadSchedulerEnv } from './env.ts';

const env = loadSchedulerEnv();
const logger = createLogger({ name: 'switchyard-scheduler', level: env.LOG_LEVEL });

runUntilSignal(logger, async () => {
  const infra = connect(env, 'switchyard-scheduler');
  const scheduler = await startSchedulerRole(env, infra, logger);
  return [() => scheduler.stop(), () => infra.close()];
});
