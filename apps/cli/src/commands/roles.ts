/**
 * `switchyard api|worker|scheduler|dev`: run a Switchyard process. Each role's own main runs as
 * a child process with the same environment (apps never import apps), and signals are passed
 * on so a SIGTERM still drains workers gracefully.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyMigrations, ensureDatabase } from '@switchyard/db';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

const MAINS = {
  api: '../../../api/src/main.ts',
  worker: '../../../worker/src/main.ts',
  scheduler: '../../../scheduler/src/main.ts',
  fleet: '../../../fleet/src/main.ts',
} as const;

type Role = keyof typeof MAINS;

/** Starts the roles as children; resolves with the first non-zero exit status (0 when all exit cleanly). */
export function runRoles(roles: Role[], env: NodeJS.ProcessEnv): Promise<number> {
  const loader = import.meta.resolve('tsx');
  const children = roles.map((role) =>
    spawn(process.execPath, ['--import', loader, fileURLToPath(new URL(MAINS[role], import.meta.url))], {
      stdio: 'inherit',
      env,
    }),
  );
  const forward = (signal: NodeJS.Signals) => () => {
    for (const child of children) child.kill(signal);
  };
  const onTerm = forward('SIGTERM');
  const onInt = forward('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return waitForAll(children).finally(() => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  });
}

/** When one child exits, the others are stopped too: a half-running dev fleet helps nobody. */
function waitForAll(children: ChildProcess[]): Promise<number> {
  let status = 0;
  return Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', (code, signal) => {
            if (status === 0 && code !== 0) status = code ?? (signal ? 128 : 1);
            for (const other of children)
              if (other !== child && other.exitCode === null) other.kill('SIGTERM');
            resolve();
          });
        }),
    ),
  ).then(() => status);
}

/** The role commands. `childEnv` is the environment the children run with. */
export function registerRoleCommands(
  program: Command,
  ctx: () => CliContext,
  childEnv: NodeJS.ProcessEnv,
): void {
  const run = async (roles: Role[], extra: Record<string, string> = {}) => {
    ctx().exitCode = await runRoles(roles, { ...childEnv, ...extra });
  };
  program
    .command('api')
    .description('run the HTTP API')
    .action(() => run(['api']));
  program
    .command('worker')
    .description('run a worker (SWITCHYARD_HANDLER_MODULES names the handler modules)')
    .option('--step-types <types>', 'comma-separated step types to consume (default: every loaded handler)')
    .option('--concurrency <n>', 'attempts run at once per step type')
    .action((opts: { stepTypes?: string; concurrency?: string }) =>
      run(['worker'], {
        ...(opts.stepTypes ? { SWITCHYARD_STEP_TYPES: opts.stepTypes } : {}),
        ...(opts.concurrency ? { SWITCHYARD_CONCURRENCY: opts.concurrency } : {}),
      }),
    );
  program
    .command('scheduler')
    .description('run a scheduler (several may run; one leads)')
    .action(() => run(['scheduler']));
  program
    .command('dev')
    .description('local development: migrate, then the API, a worker and a scheduler together')
    .action(async () => {
      await ensureDatabase(ctx().env.DATABASE_URL);
      await applyMigrations(ctx().env.DATABASE_URL);
      await run(['api', 'fleet']);
    });
}
