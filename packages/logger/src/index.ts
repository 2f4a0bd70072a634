/**
 * Structured logging for every Switchyard process: one pino root per process (createLogger),
 * children per component and per unit of work (a step attempt's logger names its task and step).
 */

export type { Logger } from 'pino';
export {
  capStrings,
  createLogger,
  DEFAULT_REDACT_PATHS,
  type LoggerOptions,
  MAX_LOG_STRING,
} from './logger.ts';
export { formatPretty, prettyDestination } from './pretty.ts';
