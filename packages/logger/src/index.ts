/**
 * Structured logging for every Switchyard process: one pino root per process (createLogger),
 * children per component, and an AsyncLocalStorage log context that stamps task and step ids
 * on every line logged during a unit of work.
 */

export type { Logger } from 'pino';
export {
  contextLogger,
  contextMixin,
  currentLogContext,
  type LogBindings,
  withLogContext,
} from './context.ts';
export {
  capStrings,
  createLogger,
  DEFAULT_REDACT_PATHS,
  type LoggerOptions,
  MAX_LOG_STRING,
} from './logger.ts';
export { formatPretty, prettyDestination } from './pretty.ts';
