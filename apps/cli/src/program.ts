import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './commands/admin.ts';
import { registerBreakerCommands } from './commands/breakers.ts';
import { registerKeyCommands } from './commands/keys.ts';
import { registerLimitCommands } from './commands/limits.ts';
import { registerRoleCommands } from './commands/roles.ts';
import { registerScheduleCommands } from './commands/schedules.ts';
import { registerTaskCommands } from './commands/tasks.ts';
import { type CliContext, createCliContext } from './context.ts';
import { loadCliEnv } from './env.ts';
import { classifyError, type ErrorReport, ExitCode } from './exit-codes.ts';
import type { Io } from './output.ts';

/** The CLI package's version, read at run time (`src/` and a compiled `dist/` are both one level down). */
export function cliVersion(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

/**
 * Whether the command line asks for JSON. Read before commander parses it, so that usage errors
 * are JSON too: with it, commander's own error text and help are held back.
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** Builds the `switchyard` command tree around a context made on first use. */
export function buildProgram(
  ctx: () => CliContext,
  io: Io,
  childEnv: NodeJS.ProcessEnv,
  json = false,
): Command {
  const program = new Command('switchyard')
    .description('Switchyard: start, inspect and operate workflows; run its processes')
    .version(cliVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => !json && io.err(text.trimEnd()),
      outputError: (text, write) => !json && write(text),
    })
    .showHelpAfterError();
  registerAdminCommands(program, ctx);
  registerTaskCommands(program, ctx);
  registerScheduleCommands(program, ctx);
  registerBreakerCommands(program, ctx);
  registerLimitCommands(program, ctx);
  registerKeyCommands(program, ctx);
  registerRoleCommands(program, ctx, childEnv);
  return program;
}

/**
 * Runs one command line (without `node` and the script) and returns the exit status; errors
 * are printed, never thrown: one line (`error: …`), or with `--json` one object on stderr,
 * `{"error": ErrorReport}`. See ExitCode for what each status means.
 */
export async function runCli(argv: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const json = wantsJson(argv);
  let context: CliContext | undefined;
  const ctx = () => {
    context ??= createCliContext(loadCliEnv(env), io);
    return context;
  };
  try {
    await buildProgram(ctx, io, env, json).parseAsync(argv, { from: 'user' });
    return context?.exitCode ?? ExitCode.OK;
  } catch (err) {
    const scene = {
      apiUrl: context?.env.SWITCHYARD_API_URL,
      databaseUrl: context?.env.DATABASE_URL,
      databaseUrlSet: Boolean(env.DATABASE_URL?.trim()),
    };
    return reportError(classifyError(err, scene), io, json, err instanceof CommanderError);
  } finally {
    await context?.close();
  }
}

/** Prints an error report; commander has already printed its own errors unless `json`. */
function reportError(report: ErrorReport, io: Io, json: boolean, fromCommander: boolean): number {
  if (report.exitCode === ExitCode.OK) return ExitCode.OK;
  if (json) io.err(JSON.stringify({ error: report }));
  else if (!fromCommander) {
    if (report.status === undefined) io.err(`error: ${report.message}`);
    else {
      // The API's detail is a sentence; its field problems follow, one a line.
      io.err(`error: ${report.message} (${report.status} ${report.code})`);
      for (const detail of report.details ?? [])
        io.err(`  ${detail.path || '(root)'}: ${detail.message}${detail.rule ? ` (${detail.rule})` : ''}`);
    }
  }
  return report.exitCode;
}
