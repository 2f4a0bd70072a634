import { readFile } from 'node:fs/promises';
import type { CreateScheduleBody, Schedule, ScheduleDetail } from '@switchyard/client';
import type { Command } from 'commander';
import { type CliContext, parseJsonOption, print, UsageError } from '../context.ts';
import { table, when } from '../output.ts';

type Json = { json?: boolean };
const OVERLAP = ['skip', 'allow', 'cancel_previous'];
const CATCH_UP = ['none', 'latest', 'all'];

/** `switchyard schedules create|list|get|pause|resume|delete`. */
export function registerScheduleCommands(program: Command, ctx: () => CliContext): void {
  const schedules = program
    .command('schedules')
    .description('start tasks on a cron schedule (through the API)');
  schedules
    .command('create <namespace> <name>')
    .description('create a schedule: one task of the template per tick of the cron expression')
    .requiredOption('--cron <expression>', 'five fields (minute first) or six (seconds first)')
    .option('--timezone <zone>', 'IANA time zone the expression is read in', 'UTC')
    .option('--version <version>', 'template version (default: the latest at each tick)')
    .option('--context <json>', 'every task’s context as JSON', '{}')
    .option('--context-file <path>', 'read the context from a JSON file')
    .option('--overlap <policy>', 'while the previous task runs: skip, allow or cancel_previous', 'skip')
    .option('--catch-up <policy>', 'ticks missed while no scheduler ran: none, latest or all', 'none')
    .option('--paused', 'create it paused')
    .option('--json', 'print JSON')
    .action(async (namespace: string, name: string, opts) => {
      const schedule = await ctx()
        .client()
        .createSchedule(await createBody(namespace, name, opts));
      print(
        ctx(),
        opts.json,
        schedule,
        () => `created schedule ${schedule.id}\n\n${formatSchedules([schedule])}`,
      );
    });
  schedules
    .command('list')
    .description('every schedule, newest first, with its next run and last task')
    .option('--json', 'print JSON')
    .action(async (opts: Json) => {
      const list = await ctx().client().listSchedules();
      print(ctx(), opts.json, list, () => formatSchedules(list));
    });
  schedules
    .command('get <id>')
    .description('a schedule and what its latest ticks did')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: Json) => {
      const schedule = await ctx().client().getSchedule(id);
      print(ctx(), opts.json, schedule, () => formatSchedule(schedule));
    });
  for (const action of ['pause', 'resume', 'delete'] as const) {
    schedules
      .command(`${action} <id>`)
      .description(
        {
          pause: 'pause a schedule: no tick fires until resumed',
          resume: 'resume a schedule from its next tick after now',
          delete: 'delete a schedule (the tasks it created stay)',
        }[action],
      )
      .option('--json', 'print JSON')
      .action(async (id: string, opts: Json) => {
        const client = ctx().client();
        const schedule =
          action === 'pause'
            ? await client.pauseSchedule(id)
            : action === 'resume'
              ? await client.resumeSchedule(id)
              : await client.deleteSchedule(id);
        print(ctx(), opts.json, schedule, () => `${action}d schedule ${schedule.id}`);
      });
  }
}

async function createBody(
  namespace: string,
  name: string,
  opts: {
    cron: string;
    timezone: string;
    version?: string;
    context: string;
    contextFile?: string;
    overlap: string;
    catchUp: string;
    paused?: boolean;
  },
): Promise<CreateScheduleBody> {
  if (!OVERLAP.includes(opts.overlap)) throw new UsageError(`--overlap must be one of ${OVERLAP.join(', ')}`);
  if (!CATCH_UP.includes(opts.catchUp))
    throw new UsageError(`--catch-up must be one of ${CATCH_UP.join(', ')}`);
  const contextText = opts.contextFile ? await readFile(opts.contextFile, 'utf8') : opts.context;
  return {
    namespace,
    name,
    cron: opts.cron,
    timezone: opts.timezone,
    context: parseJsonOption(opts.contextFile ? 'context-file' : 'context', contextText),
    overlap: opts.overlap as CreateScheduleBody['overlap'],
    catchUp: opts.catchUp as CreateScheduleBody['catchUp'],
    ...(opts.version ? { version: opts.version } : {}),
    ...(opts.paused ? { paused: true } : {}),
  };
}

/** Schedules as a table. */
export function formatSchedules(schedules: Schedule[]): string {
  if (schedules.length === 0) return 'no schedules';
  return table(
    ['ID', 'TEMPLATE', 'CRON', 'ZONE', 'NEXT RUN', 'LAST TASK', 'STATE'],
    schedules.map((s) => [
      s.id,
      `${s.namespace}/${s.name}${s.version ? `@${s.version}` : ''}`,
      s.cron,
      s.timezone,
      s.paused ? '-' : when(s.nextRunAt),
      s.lastTaskId ? `${s.lastTaskId} ${s.lastTaskStatus ?? ''}`.trim() : '-',
      s.paused ? 'paused' : 'active',
    ]),
  );
}

function formatSchedule(schedule: ScheduleDetail): string {
  const head = [
    formatSchedules([schedule]),
    '',
    `overlap ${schedule.overlap}  catch-up ${schedule.catchUp}  created by ${schedule.createdBy} ${when(schedule.createdAt)}`,
  ];
  if (schedule.ticks.length === 0) return `${head.join('\n')}\n\nno ticks yet`;
  const ticks = table(
    ['TICK', 'OUTCOME', 'TASK', 'DETAIL'],
    schedule.ticks.map((t) => [when(t.tickAt), t.outcome, t.taskId ?? '-', t.detail ?? '']),
  );
  return `${head.join('\n')}\n\n${ticks}`;
}
