import { type BreakerAction, BreakerActionSchema } from '@switchyard/client';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { formatBreakers } from '../output.ts';

/** `switchyard breakers list|open|close|reset`. */
export function registerBreakerCommands(program: Command, ctx: () => CliContext): void {
  const breakers = program
    .command('breakers')
    .description('circuit breakers per dependent system (through the API)');
  breakers
    .command('list')
    .description('every breaker: state, recent calls and failures, held steps')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await ctx().client().listBreakers();
      ctx().io.out(opts.json ? JSON.stringify(list, null, 2) : formatBreakers(list));
    });
  for (const action of BreakerActionSchema.options) {
    breakers
      .command(`${action} <system>`)
      .description(DESCRIPTIONS[action])
      .requiredOption('--reason <reason>', 'why (kept in the audit trail)')
      .option('--json', 'print JSON')
      .action(async (system: string, opts: { reason: string; json?: boolean }) => {
        const breaker = await ctx().client().forceBreaker(system, action, opts.reason);
        ctx().io.out(opts.json ? JSON.stringify(breaker, null, 2) : formatBreakers([breaker]));
      });
  }
}

const DESCRIPTIONS: Record<BreakerAction, string> = {
  open: 'force a breaker open: no step of the system is dispatched until it is closed or reset',
  close: 'force a breaker closed whatever the history says',
  reset: 'hand a breaker back to the history: closed, trips and Retry-After hold cleared',
};
