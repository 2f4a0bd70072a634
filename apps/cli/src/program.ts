import { SwitchyardApiError } from '@switchyard/client';
import { toError } from '@switchyard/core';
import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './commands/admin.ts';
import { registerBreakerCommands } from './commands/breakers.ts';
import { registerKeyCommands } from './commands/keys.ts';
import { registerRoleCommands } from './commands/roles.ts';
import { registerTaskCommands } from './commands/tasks.ts';
import { type CliContext, createCliContext } from './context.ts';
import { loadCliEnv } from './env.ts';
import { ExitCode, exitCodeFor } from './exit-codes.ts';
import type { Io } from './output.ts';

/** Builds the `switchyard` command tree around a context made on first use. */
export function buildProgram(ctx: () => CliContext, io: Io, childEnv: NodeJS.ProcessEnv): Command {
  const program = new Command('switchyard')
    .description('Switchyard: start, inspect and operate workflows; run its processes')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => io.err(text.trimEnd()),
    })
    .showHelpAfterError();
  registerAdminCommands(program, ctx);
  registerTaskCommands(program, ctx);
  registerBreakerCommands(program, ctx);
  registerKeyCommands(program, ctx);
  registerRoleCommands(program, ctx, childEnv);
  return program;
}

/**
 * Runs one command line (without `node` and the script) and returns the exit status; errors
 * are printed, never thrown. See ExitCode for what each status means.
 */
export async function runCli(argv: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  let context: CliContext | undefined;
  const ctx = () => {
    context ??= createCliContext(loadCliEnv(env), io);
    return context;
  };
  try {
    await buildProgram(ctx, io, env).parseAsync(argv, { from: 'user' });
    return context?.exitCode ?? ExitCode.OK;
  } catch (err) {
    return reportError(err, io);
  } finally {
    await context?.close();
  }
}

function reportError(err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every other commander error is a usage error.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof SwitchyardApiError) {
    io.err(`error: ${err.problem.detail} (${err.status} ${err.code})`);
    for (const issue of err.problem.errors ?? [])
      io.err(`  ${issue.path || '(root)'}: ${issue.message} (${issue.rule})`);
  } else {
    io.err(`error: ${toError(err).message}`);
  }
  return exitCodeFor(err);
}
