import { pino } from 'pino';
import { prettyDestination } from './pretty.ts';

/** Strings longer than this are cut in log lines (messages, fields, error messages and stacks). */
export const MAX_LOG_STRING = 4096;
/** Nesting depth below which strings are no longer inspected for the cap. */
const MAX_CAP_DEPTH = 8;

const SECRET_KEYS = ['authorization', 'Authorization', 'cookie', 'password', 'token', 'apiKey', 'secret'];
const SECRET_HEADERS = [
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  '["set-cookie"]',
  '["x-api-key"]',
];

/**
 * Paths censored on every line: the secret keys at the top level and one level down, and the
 * credential headers of request/response-like objects (including an axios error's
 * `err.config.headers`).
 */
export const DEFAULT_REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`]),
  ...SECRET_HEADERS.flatMap((header) => {
    const path = header.startsWith('[') ? `headers${header}` : `headers.${header}`;
    return [path, `*.${path}`, `*.config.${path}`];
  }),
];

export type LoggerOptions = {
  /** Shown as `name` on every line: the process (`switchyard-worker`). */
  name: string;
  /** pino level: fatal, error, warn, info, debug, trace or silent. Default `info`. */
  level?: string;
  /** Human-readable lines instead of JSON, for a terminal. Default false. */
  pretty?: boolean;
  /** Where lines go. Default stdout. */
  destination?: pino.DestinationStream;
  /** Paths to censor besides {@link DEFAULT_REDACT_PATHS} (pino redact syntax). */
  redact?: string[];
};

/**
 * The process's root logger (make one per process and derive children from it): JSON lines with
 * ISO time and the level's name, secrets censored as `[redacted]`, errors under `err` serialized
 * with type, message, stack and cause, and strings capped at {@link MAX_LOG_STRING}. Bindings of
 * a unit of work (a step attempt's task and step) go on a child logger handed to it.
 */
export function createLogger(options: LoggerOptions): pino.Logger {
  const destination = options.pretty ? prettyDestination(options.destination) : options.destination;
  const config: pino.LoggerOptions = {
    name: options.name,
    level: options.level ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])], censor: '[redacted]' },
    // pino's serialized error has its own prototype; a plain copy lets capStrings reach its strings.
    serializers: { err: (err: Error) => capStrings({ ...pino.stdSerializers.err(err) }, 0) },
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => capStrings(object, 0) as Record<string, unknown>,
    },
    hooks: { logMethod: capMessage },
  };
  return destination ? pino(config, destination) : pino(config);
}

/** Cuts the message (and the error message pino would use in its place) to the cap. */
function capMessage(this: pino.Logger, args: unknown[], method: pino.LogFn): void {
  const capped = args.map((arg) => (typeof arg === 'string' ? capString(arg) : arg));
  const first = capped[0] as { err?: unknown; msg?: unknown } | undefined;
  const err =
    first instanceof Error
      ? first
      : first?.err instanceof Error && first.msg === undefined
        ? first.err
        : null;
  if (err && capped.length === 1) capped.push(capString(err.message));
  (method as (...values: unknown[]) => void).apply(this, capped);
}

function capString(value: string): string {
  if (value.length <= MAX_LOG_STRING) return value;
  return `${value.slice(0, MAX_LOG_STRING)}…[${value.length - MAX_LOG_STRING} more chars]`;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `value` with every long string in it capped. Copies only the plain objects and arrays on the
 * way to a string that changed, so the caller's objects are never modified; class instances
 * (Errors go through the `err` serializer) are left to their own JSON.
 */
export function capStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return capString(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_CAP_DEPTH) return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => capStrings(item, depth + 1));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const capped = capStrings(item, depth + 1);
    if (capped !== item) {
      copy ??= { ...value };
      copy[key] = capped;
    }
  }
  return copy ?? value;
}
