/** Scheduler process: env → dependencies → start → graceful stop. Safe to run as several replicas. */
import { connect, startSchedulerRole, stopOnSignals } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { loadSchedulerEnv } from './env.ts';

const env = loadSchedulerEnv();
const logger = createLogger({ name: 'switchyard-scheduler', level: env.LOG_LEVEL });

async function main(): Promise<void> {
  const infra = connect(env, 'switchyard-scheduler');
  const scheduler = await startSchedulerRole(env, infra, logger);
  stopOnSignals(logger, [() => scheduler.stop(), () => infra.close()]);
}

main().catch((err) => {
  logger.fatal({ err }, 'scheduler failed to start');
  process.exit(1);
});
