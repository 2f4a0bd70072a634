/**
 * The user-registration example's four HTTP services as one process (the example image's `services`
 * role): user, billing, preferences and notification on EXAMPLE_SERVICES_BASE_PORT .. +3.
 */

import { createLogger } from '@switchyard/logger';
import { z } from 'zod';
import { startAllServices } from './index.ts';

const EnvSchema = z.object({
  /** Address to listen on; 0.0.0.0 inside a container. */
  EXAMPLE_SERVICES_HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the user service; billing, preferences and notification take the next three (0: any free ports). */
  EXAMPLE_SERVICES_BASE_PORT: z.coerce.number().int().min(0).max(65_532).default(7101),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

const env = EnvSchema.parse(process.env);
const logger = createLogger({ name: 'switchyard-example-services', level: env.LOG_LEVEL });

const services = await startAllServices({
  host: env.EXAMPLE_SERVICES_HOST,
  basePort: env.EXAMPLE_SERVICES_BASE_PORT,
});
logger.info({ urls: services.env }, 'services started');

const stop = async (signal: string) => {
  logger.info({ signal }, 'stopping');
  await services.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
