/**
 * Log context carried by AsyncLocalStorage: bindings set once around a unit of work (a step
 * attempt: task_id, step_name, attempt, correlation_id) appear on every line logged inside it,
 * including lines from code that was never handed a logger, without threading arguments.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';

/** Key/value pairs added to log lines. */
export type LogBindings = Readonly<Record<string, unknown>>;

const storage = new AsyncLocalStorage<LogBindings>();
const EMPTY: LogBindings = Object.freeze({});

// Set on loggers made by contextLogger (and inherited by their children, which pino creates with
// Object.create): the bindings they already carry, so the mixin does not print them twice.
const BOUND = Symbol('switchyard.boundLogContext');
type ContextAware = { [BOUND]?: LogBindings };

/**
 * Runs `fn` with `bindings` added to the current log context (inner values win), and returns
 * what it returns. Everything `fn` starts, awaited or not, sees the context.
 */
export function withLogContext<T>(bindings: Record<string, unknown>, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...bindings }, fn);
}

/** The bindings of the current log context (empty outside any {@link withLogContext}). */
export function currentLogContext(): LogBindings {
  return storage.getStore() ?? EMPTY;
}

/**
 * A child of `base` carrying the current context's bindings as of now, for loggers handed to code
 * that runs outside the context later (a callback registered now, fired from elsewhere). Lines
 * logged inside the context carry the bindings anyway through the root's mixin.
 */
export function contextLogger(base: Logger): Logger {
  const already = (base as ContextAware)[BOUND] ?? EMPTY;
  const added = unbound(currentLogContext(), already);
  const child = base.child(added) as Logger & ContextAware;
  child[BOUND] = { ...already, ...added };
  return child;
}

/**
 * pino `mixin` of every root logger: the context's bindings, minus those the logger already
 * carries from {@link contextLogger}. Returns a fresh object each time, as pino merges into it.
 */
export function contextMixin(_mergeObject: object, _level: number, logger: Logger): Record<string, unknown> {
  const store = storage.getStore();
  if (!store) return {};
  return unbound(store, (logger as ContextAware)[BOUND] ?? EMPTY);
}

function unbound(bindings: LogBindings, already: LogBindings): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(bindings)) {
    if (!(key in already)) result[key] = bindings[key];
  }
  return result;
}
