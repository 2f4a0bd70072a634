/**
 * `pnpm bench --creator-process`: the bursts' tasks are created by a child process, as an API
 * creates them in production, instead of by the process that runs the worker and the scheduler.
 * This file is both sides: the parent forks it (startCreatorProcess) and sends it bursts to
 * create; run as the child (CREATOR_CHILD set), it creates each burst with createMany and answers
 * with the task ids and the CPU time it spent.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPool } from '@switchyard/db';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { statementsSent } from './counters.ts';
import { createMany, templates } from './scenarios.ts';

type TemplateName = keyof typeof templates;
type Request = { seq: number; template: TemplateName; count: number; parallel: number };
type Created = { ids: string[]; cpuSeconds: number; statements: number };
type Answer = ({ seq: number } & Created) | { seq: number; error: string };

const CHILD = 'CREATOR_CHILD';

export type CreatorProcess = {
  /**
   * Creates `count` tasks of `template` in the child, `parallel` at once: their ids, and the
   * child's CPU seconds and Postgres statements spent on them.
   */
  create(template: TemplateName, count: number, parallel: number): Promise<Created>;
  stop(): Promise<void>;
};

/** Forks the creator, which connects to `databaseUrl` and `redisUrl` and dispatches under `prefix`. */
export function startCreatorProcess(databaseUrl: string, redisUrl: string, prefix: string): CreatorProcess {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, [CHILD]: JSON.stringify({ databaseUrl, redisUrl, prefix }) },
  });
  const pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();
  let seq = 0;
  child.on('message', (answer: Answer) => pending.get(answer.seq)?.resolve(answer));
  child.on('exit', (code) => {
    for (const { reject } of pending.values()) reject(new Error(`the creator process exited (${code})`));
  });
  return {
    async create(template, count, parallel) {
      seq += 1;
      const answer = await new Promise<Answer>((resolve, reject) => {
        pending.set(seq, { resolve, reject });
        child.send({ seq, template, count, parallel } satisfies Request);
      });
      pending.delete(answer.seq);
      if ('error' in answer) throw new Error(`the creator process failed: ${answer.error}`);
      return answer;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function runChild(settings: { databaseUrl: string; redisUrl: string; prefix: string }): Promise<void> {
  const pool = createPool(settings.databaseUrl, { max: 20, application: 'switchyard-bench-creator' });
  const redis = createRedisConnection(settings.redisUrl);
  const deps = { pool, dispatcher: new StepDispatcher({ connection: redis, prefix: settings.prefix }) };
  process.on('message', async (request: Request) => {
    const before = process.cpuUsage();
    const statementsBefore = statementsSent();
    try {
      const ids = await createMany(deps, templates[request.template], request.count, request.parallel);
      const used = process.cpuUsage(before);
      process.send?.({
        seq: request.seq,
        ids,
        cpuSeconds: (used.user + used.system) / 1e6,
        statements: statementsSent() - statementsBefore,
      } satisfies Answer);
    } catch (err) {
      process.send?.({ seq: request.seq, error: String(err) } satisfies Answer);
    }
  });
  process.on('SIGTERM', () => {
    void Promise.all([deps.dispatcher.close(), pool.end()]).finally(() => {
      redis.disconnect();
      process.exit(0);
    });
  });
}

const childSettings = process.env[CHILD];
if (childSettings) await runChild(JSON.parse(childSettings));
