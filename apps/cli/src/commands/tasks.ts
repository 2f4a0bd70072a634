import { readFile } from 'node:fs/promises';
import {
  type CreateTaskResponse,
  type ListTasksQuery,
  type Task,
  WaitTimeoutError,
} from '@switchyard/client';
import type { Command } from 'commander';
import { type CliContext, parseJsonOption, print, UsageError } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { formatTask, formatTaskList } from '../output.ts';

type Json = { json?: boolean };
const TERMINAL = ['complete', 'error', 'cancelled'];

/** `switchyard tasks create|get|list|cancel|retry-step|resolve-step|watch`. */
export function registerTaskCommands(program: Command, ctx: () => CliContext): void {
  const tasks = program.command('tasks').description('start, inspect and repair tasks (through the API)');
  tasks
    .command('create <namespace> <name>')
    .description('start a task from a registered template')
    .option('--version <version>', 'template version (default: the latest)')
    .option('--context <json>', 'task context as JSON', '{}')
    .option('--context-file <path>', 'read the context from a JSON file')
    .option('--correlation-id <id>', 'correlation id carried by every log line and call')
    .option('--idempotency-key <key>', 'a second create with the same key returns the first task')
    .option('--run-at <iso>', 'delayed start: the task exists now, its steps start at this time (ISO 8601)')
    .option('--tag <tag...>', 'tags')
    .option('--wait', 'wait until the task finishes, showing progress; exit 10 on error or cancel')
    .option('--timeout <seconds>', 'with --wait, give up after this long (exit 6)', '600')
    .option('--json', 'print JSON: {task, duplicate}, and with --wait also final, the task as it ended')
    .action(async (namespace: string, name: string, opts) => {
      ctx().exitCode = await createCommand(ctx(), namespace, name, opts);
    });
  tasks
    .command('get <id>')
    .description('show a task and its steps')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: Json) => {
      const task = await ctx().client().getTask(id);
      print(ctx(), opts.json, task, () => formatTask(task));
    });
  registerTaskList(tasks, ctx);
  registerTaskOperations(tasks, ctx);
}

function registerTaskList(tasks: Command, ctx: () => CliContext): void {
  tasks
    .command('list')
    .description('list tasks, newest first')
    .option('--namespace <namespace>')
    .option('--name <name>')
    .option('--version <version>')
    .option('--status <status>', 'pending, in_progress, complete, error or cancelled')
    .option('--correlation-id <id>')
    .option('--created-after <iso>')
    .option('--created-before <iso>')
    .option('--limit <n>', 'page size (1-200)', '50')
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .option('--json', 'print JSON')
    .action(async (opts) => listCommand(ctx(), opts));
}

/** `tasks cancel|retry-step|resolve-step|watch`: the operator's commands. */
function registerTaskOperations(tasks: Command, ctx: () => CliContext): void {
  tasks
    .command('cancel <id>')
    .description('cancel a task: nothing more runs, running handlers are aborted')
    .option('--reason <reason>')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: Json & { reason?: string }) => {
      const task = await ctx().client().cancelTask(id, opts.reason);
      print(ctx(), opts.json, task, () => formatTask(task));
    });
  tasks
    .command('retry-step <id> <step>')
    .description('give a failed step fresh attempts; the task resumes from there')
    .option('--reason <reason>')
    .option('--json', 'print JSON')
    .action(async (id: string, step: string, opts: Json & { reason?: string }) => {
      const task = await ctx().client().retryStep(id, step, opts.reason);
      print(ctx(), opts.json, task, () => formatTask(task));
    });
  tasks
    .command('resolve-step <id> <step>')
    .description('resolve a step by hand; its dependents proceed')
    .option('--results <json>', 'results handed to the dependents, as JSON')
    .option(
      '--chosen <names>',
      'a decision step: the steps it activates, comma-separated ("" for none); the others are skipped',
    )
    .option('--reason <reason>')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        step: string,
        opts: Json & { reason?: string; results?: string; chosen?: string },
      ) => {
        const body = {
          ...(opts.reason ? { reason: opts.reason } : {}),
          ...(opts.results ? { results: parseJsonOption('results', opts.results) } : {}),
          ...(opts.chosen === undefined ? {} : { chosen: chosenNames(opts.chosen) }),
        };
        const task = await ctx().client().resolveStep(id, step, body);
        print(ctx(), opts.json, task, () => formatTask(task));
      },
    );
  tasks
    .command('watch <id>')
    .description('follow a task until it finishes; exit 0 when complete, 10 on error or cancel')
    .option('--timeout <seconds>', 'give up after this long', '600')
    .option('--json', 'print JSON lines of each change')
    .action(async (id: string, opts: Json & { timeout: string }) => {
      ctx().exitCode = await watchCommand(ctx(), id, opts);
    });
}

async function createCommand(
  ctx: CliContext,
  namespace: string,
  name: string,
  opts: Json & {
    version?: string;
    context: string;
    contextFile?: string;
    correlationId?: string;
    idempotencyKey?: string;
    runAt?: string;
    tag?: string[];
    wait?: boolean;
    timeout: string;
  },
): Promise<number> {
  const timeoutMs = seconds(opts.timeout);
  const contextText = opts.contextFile ? await readFile(opts.contextFile, 'utf8') : opts.context;
  const body = {
    namespace,
    name,
    context: parseJsonOption(opts.contextFile ? 'context-file' : 'context', contextText),
    ...(opts.version ? { version: opts.version } : {}),
    ...(opts.correlationId ? { correlationId: opts.correlationId } : {}),
    ...(opts.tag ? { tags: opts.tag } : {}),
    ...(opts.runAt ? { runAt: isoOption('run-at', opts.runAt) } : {}),
  };
  const created = await ctx
    .client()
    .createTask(body, opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {});
  if (!opts.json) {
    ctx.io.out(`${created.duplicate ? 'existing task (duplicate)' : 'created task'} ${created.task.id}`);
  }
  if (opts.wait) return waitForCreated(ctx, created, timeoutMs, opts.json ?? false);
  if (opts.json) ctx.io.out(JSON.stringify(created, null, 2));
  return ExitCode.OK;
}

/** `tasks create --wait`: progress lines, or with `--json` one object `{task, duplicate, final}`. */
async function waitForCreated(
  ctx: CliContext,
  created: CreateTaskResponse,
  timeoutMs: number,
  json: boolean,
) {
  if (!json) return exitCodeOf(await followTask(ctx, created.task.id, timeoutMs, false));
  // One object on stdout even when the wait times out: a script still learns the task's id.
  const final = await followTask(ctx, created.task.id, timeoutMs, null).catch((err: unknown) => {
    if (err instanceof WaitTimeoutError) ctx.io.out(JSON.stringify({ ...created, final: err.task }, null, 2));
    throw err;
  });
  ctx.io.out(JSON.stringify({ ...created, final }, null, 2));
  return exitCodeOf(final);
}

/** `--timeout` in seconds, as milliseconds. */
function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`--timeout must be a number of seconds > 0, got "${text}"`);
  return value * 1000;
}

function exitCodeOf(task: Task): number {
  return task.status === 'complete' ? ExitCode.OK : ExitCode.TASK_FAILED;
}

async function listCommand(ctx: CliContext, opts: Record<string, string | boolean | undefined>) {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit)) throw new UsageError('--limit must be an integer');
  const query: ListTasksQuery = { limit };
  for (const key of [
    'namespace',
    'name',
    'version',
    'status',
    'correlationId',
    'createdAfter',
    'createdBefore',
    'cursor',
  ] as const) {
    if (typeof opts[key] === 'string') (query as Record<string, unknown>)[key] = opts[key];
  }
  const page = await ctx.client().listTasks(query);
  print(ctx, opts.json as boolean | undefined, page, () =>
    [formatTaskList(page.tasks), page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : ''].join(''),
  );
}

/** `tasks watch`: follows the task, exits 0 when it completes and 10 when it fails. */
async function watchCommand(ctx: CliContext, id: string, opts: Json & { timeout: string }): Promise<number> {
  return exitCodeOf(await followTask(ctx, id, seconds(opts.timeout), opts.json ?? false));
}

/**
 * Polls the task until it finishes, printing each step change as it happens (human lines, JSON
 * lines, or nothing when `json` is null); returns the finished task.
 * @throws WaitTimeoutError (with the last task seen) after `timeoutMs`.
 */
async function followTask(
  ctx: CliContext,
  id: string,
  timeoutMs: number,
  json: boolean | null,
): Promise<Task> {
  const client = ctx.client();
  const deadline = Date.now() + timeoutMs;
  const seen = new Map<string, string>();
  let interval = 100;
  for (;;) {
    const task = await client.getTask(id);
    if (json !== null) report(ctx, task, seen, json);
    if (TERMINAL.includes(task.status)) {
      if (json === false) ctx.io.out(`task ${task.status}`);
      return task;
    }
    if (Date.now() > deadline) throw new WaitTimeoutError(task, timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, interval));
    interval = Math.min(interval * 1.5, 2000);
  }
}

function report(ctx: CliContext, task: Task, seen: Map<string, string>, json?: boolean): void {
  for (const step of task.steps) {
    const state = `${step.status}:${step.attempts}`;
    if (seen.get(step.name) === state) continue;
    seen.set(step.name, state);
    const at = new Date().toISOString();
    if (json)
      ctx.io.out(
        JSON.stringify({ at, task: task.id, step: step.name, status: step.status, attempts: step.attempts }),
      );
    else ctx.io.out(`${at}  ${step.name.padEnd(24)} ${step.status} (attempt ${step.attempts})`);
  }
}

/** `--chosen a,b` as names; `--chosen ""` chooses none. */
function chosenNames(text: string): string[] {
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

/** An ISO 8601 time option, normalized to UTC; a usage error names the option otherwise. */
function isoOption(name: string, text: string): string {
  const at = new Date(text);
  if (Number.isNaN(at.getTime()))
    throw new UsageError(`--${name} must be an ISO 8601 time, e.g. 2026-12-24T18:00:00Z`);
  return at.toISOString();
}
