/**
 * `switchyard api|worker|scheduler|dev`: run a Switchyard process. Each role's own main runs as
 * a child process with the same environment (apps never import apps), and signals are passed
 * on so a SIGTERM still drains workers gracefully.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyMigrations, ensureDatabase } from '@switchyard/db';
import { ensureLocalPostgres, ensureLocalRedis } from '@switchyard/local-infra';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';

/** Each role's main, by the `./main` export of its package. */
const MAINS = {
  api: '@switchyard/api/main',
  worker: '@switchyard/worker-app/main',
  scheduler: '@switchyard/scheduler-app/main',
  fleet: '@switchyard/fleet/main',
} as const;

type Role = keyof typeof MAINS;

/** The status a role exits with when its configuration is wrong (sysexits.h EX_CONFIG). */
const EX_CONFIG = 78;

/**
 * The node arguments that run a role's main. Installed from the registry the mains are
 * compiled JavaScript and run on plain node; in this repository's workspace they are the
 * TypeScript sources, run through tsx's loader (a development dependency).
 */
export function roleCommand(role: Role): string[] {
  const main = import.meta.resolve(MAINS[role]);
  const path = fileURLToPath(main);
  return main.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), path] : [path];
}

/** Starts the roles as children; resolves with the first non-zero exit status (0 when all exit cleanly). */
export function runRoles(roles: Role[], env: NodeJS.ProcessEnv): Promise<number> {
  const children = roles.map((role) =>
    spawn(process.execPath, roleCommand(role), {
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
    const status = await runRoles(roles, { ...childEnv, ...extra });
    // A role refuses its configuration with EX_CONFIG (78); to the CLI's caller that is bad input.
    ctx().exitCode = status === EX_CONFIG ? ExitCode.USAGE : status;
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
    .description(
      'local development: migrate, then the API, a worker and a scheduler together ' +
        '(starts a local Postgres and Redis when none answers)',
    )
    .action(async () => {
      const { io } = ctx();
      const log = (line: string) => io.err(line);
      // Redis first: it is quick, and fails before an embedded Postgres's first start (seconds).
      const redis = await ensureLocalRedis({ redisUrl: ctx().env.REDIS_URL, log });
      try {
        const postgres = await ensureLocalPostgres({ databaseUrl: ctx().databaseUrl(), log });
        try {
          await ensureDatabase(postgres.databaseUrl);
          await applyMigrations(postgres.databaseUrl);
          await run(['api', 'fleet'], { DATABASE_URL: postgres.databaseUrl, REDIS_URL: redis.redisUrl });
        } finally {
          await postgres.stop(); // after the roles have drained
        }
      } finally {
        await redis.stop();
      }
    });
}
