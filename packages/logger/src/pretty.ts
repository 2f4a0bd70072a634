import type { DestinationStream } from 'pino';

// pino-pretty is not a dependency; a terminal needs little more than this.
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname', 'err']);

/** One JSON line → `12:00:00.123 INFO  name: message {fields}` plus the error's stack, if any. */
export function formatPretty(line: string): string {
  const entry = JSON.parse(line) as Record<string, unknown>;
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? '')
    .toUpperCase()
    .padEnd(5);
  const name = entry.name ? `${entry.name}: ` : '';
  const fields = Object.fromEntries(Object.entries(entry).filter(([key]) => !HIDDEN.has(key)));
  const extra = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
  const err = entry.err as { stack?: string } | undefined;
  const stack = err?.stack ? `\n    ${err.stack.replaceAll('\n', '\n    ')}` : '';
  return `${time} ${level} ${name}${entry.msg ?? ''}${extra}${stack}\n`;
}

/** A pino destination that prints {@link formatPretty} lines to `out` (default stdout). */
export function prettyDestination(out: DestinationStream = process.stdout): DestinationStream {
  return {
    write(line: string) {
      out.write(formatPretty(line));
    },
  };
}
