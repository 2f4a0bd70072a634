/**
 * Worker process: env → dependencies → start → graceful stop.
 * Loads the team's handler modules by path, so Switchyard's worker runs handlers from the
 * team's own repository.
 */
import { connect, startWorkerRole, stopOnSignals } from '@switchyard/engine';
import { createLogger } from '@switchyard/logger';
import { loadWorkerEnv } from './env.ts';

const env = loadWorkerEnv();
const logger = createLogger({ name: 'switchyard-worker', level: env.LOG_LEVEL });

async function main(): Promise<void> {
  const infra = connect(env, 'switchyard-worker');
  const worker = await startWorkerRole(env, infra, logger);
  stopOnSignals(logger, [() => worker.stop(), () => infra.close()]);
}

main().catch((err) => {
  logger.fatal({ err }, 'worker failed to start');
  process.exit(1);
});
