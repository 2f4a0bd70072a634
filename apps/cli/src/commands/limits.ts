import type { LimitOverrideBody, ServiceLimit, ServiceLimitDetail } from '@switchyard/client';
import type { Command } from 'commander';
import { type CliContext, print, UsageError } from '../context.ts';
import { table, when } from '../output.ts';

type Json = { json?: boolean };
type SetOptions = Json & { maxConcurrent?: string; rate?: string; burst?: string; reason: string };

/** `switchyard limits list|get|set|reset`: the bulkheads per dependent system. */
export function registerLimitCommands(program: Command, ctx: () => CliContext): void {
  const limits = program
    .command('limits')
    .description('concurrency and rate limits per dependent system (through the API)');
  limits
    .command('list')
    .description('every limited system: limit in force, calls in flight, steps waiting')
    .option('--json', 'print JSON')
    .action(async (opts: Json) => {
      const list = await ctx().client().listLimits();
      print(ctx(), opts.json, list, () => formatLimits(list));
    });
  limits
    .command('get <system>')
    .description('one system’s limit with the audited changes of the limit in force')
    .option('--json', 'print JSON')
    .action(async (system: string, opts: Json) => {
      const detail = await ctx().client().getLimit(system);
      print(ctx(), opts.json, detail, () => formatDetail(detail));
    });
  limits
    .command('set <system>')
    .description('override the configured limit (a dimension not given is not limited)')
    .option('--max-concurrent <n>', 'calls in flight at once across the fleet')
    .option('--rate <per-second>', 'calls started per second across the fleet')
    .option('--burst <n>', 'calls that may start at once after a quiet spell (default: ceil(rate))')
    .requiredOption('--reason <reason>', 'why (kept in the audit trail)')
    .option('--json', 'print JSON')
    .action(async (system: string, opts: SetOptions) => {
      const limit = await ctx().client().overrideLimit(system, overrideBody(opts));
      print(ctx(), opts.json, limit, () => formatLimits([limit]));
    });
  limits
    .command('reset <system>')
    .description('remove the override: the configured limit is in force again')
    .requiredOption('--reason <reason>', 'why (kept in the audit trail)')
    .option('--json', 'print JSON')
    .action(async (system: string, opts: Json & { reason: string }) => {
      const limit = await ctx().client().resetLimit(system, opts.reason);
      print(ctx(), opts.json, limit, () => formatLimits([limit]));
    });
}

function overrideBody(opts: SetOptions): LimitOverrideBody {
  const number = (name: string, text: string | undefined) => {
    if (text === undefined) return null;
    const value = Number(text);
    if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got ${text}`);
    return value;
  };
  return {
    maxConcurrent: number('max-concurrent', opts.maxConcurrent),
    rate: number('rate', opts.rate),
    burst: number('burst', opts.burst),
    reason: opts.reason,
  };
}

function limitText(limit: ServiceLimit['limit']): [string, string] {
  const rate = limit.rate === null ? '-' : `${limit.rate}/s burst ${limit.burst}`;
  return [limit.maxConcurrent === null ? '-' : String(limit.maxConcurrent), rate];
}

export function formatLimits(limits: ServiceLimit[]): string {
  if (limits.length === 0) return 'no limits';
  return table(
    ['SYSTEM', 'MAX_CONCURRENT', 'RATE', 'IN_FLIGHT', 'WAITING', 'OVERRIDE', 'ADAPTIVE'],
    limits.map((l) => [
      l.dependentSystem,
      ...limitText(l.limit),
      String(l.inFlight),
      `${l.waiting.concurrency + l.waiting.rate}`,
      l.override ? `${l.override.actor}: ${l.override.reason}` : '-',
      adaptiveText(l.adaptive),
    ]),
  );
}

/** `2-16 baseline 41ms`, `2-16 paused` while an override is in force, `-` for a static limit. */
function adaptiveText(adaptive: ServiceLimit['adaptive']): string {
  if (!adaptive) return '-';
  const bounds = `${adaptive.min}-${adaptive.max}`;
  if (adaptive.paused) return `${bounds} paused`;
  return adaptive.baselineLatencyMs === null ? bounds : `${bounds} baseline ${adaptive.baselineLatencyMs}ms`;
}

function formatDetail(detail: ServiceLimitDetail): string {
  const changes = table(
    ['AT', 'SOURCE', 'MAX_CONCURRENT', 'RATE', 'ACTOR', 'REASON'],
    detail.changes.map((c) => [when(c.at), c.source, ...limitText(c.limit), c.actor, c.reason]),
  );
  return `${formatLimits([detail.limit])}\n\nchanges:\n${changes}`;
}
