/**
 * A rolling upgrade in the documented order, with the previous release's code taken from git:
 * the previous release (the commit before the newest migration was added, or HEAD when the
 * working tree adds it) migrates its database and runs a scheduler and two workers; then this
 * tree's migrate applies the new migrations while they work, the schedulers are replaced, then
 * the workers one by one, while both releases keep creating tasks. Every task must complete and
 * every step must complete exactly once.
 *
 * What it proves: the previous release's worker, scheduler and task creation keep working on
 * the new schema, during and after the migration, next to the new release on the same queues.
 * What it does not: the api's HTTP routes across releases (task creation is the previous
 * release's createTask, which its api calls, not an HTTP request), and releases further apart
 * than one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, ensureDatabase, listMigrations, type Pool } from '@switchyard/db';
import { createTask } from '@switchyard/engine';
import { StepDispatcher } from '@switchyard/queue';
import { createTestRedis, type TestRedis } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnAppProcess, type WorkerProcess, waitFor } from './harness.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const sideEffectsSql = readFileSync(new URL('./fixtures/side-effects.sql', import.meta.url), 'utf8');
const TEMPLATE = 'rolling_upgrade';

const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();

/** The commit of the release before the newest migration. */
function previousRelease(newestMigration: string): string {
  const path = `prisma/migrations/${newestMigration}/migration.sql`;
  const committed = spawnSync('git', ['cat-file', '-e', `HEAD:${path}`], { cwd: repoRoot }).status === 0;
  if (!committed) return git('rev-parse', 'HEAD');
  const added = git('log', '-1', '--format=%H', '--diff-filter=A', '--', path);
  const parent = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${added}^`], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (parent.status !== 0) {
    throw new Error(
      `the commit before ${added} (which added ${newestMigration}) is not in this clone: the previous release comes from git history (git fetch --unshallow)`,
    );
  }
  return parent.stdout.trim();
}

/**
 * Recreates this checkout's node_modules links under `target` (a copy of an older release):
 * workspace links stay relative, so they point at the older release's packages; third-party
 * links go through `<target>/node_modules/.pnpm`, a link to this checkout's store.
 */
function linkDependencies(target: string): void {
  const copyLinks = (from: string, to: string) => {
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const source = join(from, entry.name);
      if (entry.name === '.pnpm') symlinkSync(realpathSync(source), join(to, entry.name));
      else if (lstatSync(source).isSymbolicLink()) symlinkSync(readlinkSync(source), join(to, entry.name));
      else if (entry.isDirectory() && entry.name.startsWith('@')) copyLinks(source, join(to, entry.name));
    }
  };
  const dirs = [
    '.',
    'tests',
    ...['apps', 'packages'].flatMap((group) =>
      readdirSync(join(target, group)).map((name) => `${group}/${name}`),
    ),
  ];
  for (const dir of dirs) {
    const modules = join(repoRoot, dir, 'node_modules');
    if (existsSync(modules)) copyLinks(modules, join(target, dir, 'node_modules'));
  }
}

function start(
  cwd: string,
  main: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): WorkerProcess {
  const started = spawnAppProcess(main, { LOG_LEVEL: 'warn', ...env }, { cwd, nodeArgs });
  running.push(started.child);
  return started;
}

async function stop(process: WorkerProcess): Promise<number | null> {
  process.child.kill('SIGTERM');
  return process.exited;
}

const running: WorkerProcess['child'][] = [];
let oldTree: string;
let databaseUrl: string;
let admin: Pool;
let pool: Pool;
let redis: TestRedis;

beforeAll(async () => {
  const migrations = await listMigrations();
  const release = previousRelease(migrations.at(-1)!.name);
  oldTree = mkdtempSync(join(tmpdir(), 'switchyard-previous-release-'));
  const archive = join(oldTree, 'release.tar');
  git(
    'archive',
    '--format=tar',
    '-o',
    archive,
    release,
    'apps',
    'packages',
    'tests',
    'prisma',
    'package.json',
    'tsconfig.base.json',
  );
  execFileSync('tar', ['-xf', archive, '-C', oldTree]);
  linkDependencies(oldTree);
  const server = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  admin = createPool(server.toString(), { max: 1 });
  const url = new URL(server);
  url.pathname = `/switchyard_upgrade_${Math.random().toString(16).slice(2, 10)}`;
  databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  pool = createPool(databaseUrl, { max: 4 });
  redis = createTestRedis();
}, 60_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await pool?.end();
  await redis?.cleanup();
  await admin?.query(`DROP DATABASE IF EXISTS ${new URL(databaseUrl).pathname.slice(1)} WITH (FORCE)`);
  await admin?.end();
  if (oldTree) rmSync(oldTree, { recursive: true, force: true });
});

describe('rolling upgrade: migrate, then schedulers, then workers', () => {
  it('loses nothing and runs every step once while both releases work side by side', async () => {
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, SWITCHYARD_QUEUE_PREFIX: redis.prefix };
    const workerEnv = (tree: string, id: string) => ({
      ...env,
      SWITCHYARD_HANDLER_MODULES: join(tree, 'tests/e2e/fixtures/handlers.ts'),
      SWITCHYARD_WORKER_ID: id,
      SWITCHYARD_CONCURRENCY: '5',
      SWITCHYARD_SHUTDOWN_GRACE_MS: '5000',
    });
    const schedulerEnv = {
      ...env,
      SWITCHYARD_SCHEDULER_INTERVAL_MS: '200',
      SWITCHYARD_DISPATCH_GRACE_MS: '500',
    };
    // The previous release's task creation, run from its own tree.
    const createWithPreviousRelease = async (count: number) => {
      const script = `
        import { defineTemplate } from '@switchyard/core';
        import { createPool, registerTemplate } from '@switchyard/db';
        import { createTask } from '@switchyard/engine';
        import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
        const pool = createPool(process.env.DATABASE_URL, { max: 2 });
        const redis = createRedisConnection(process.env.REDIS_URL);
        const dispatcher = new StepDispatcher({ connection: redis, prefix: process.env.SWITCHYARD_QUEUE_PREFIX });
        await registerTemplate(pool, defineTemplate({
          namespace: 'e2e', name: '${TEMPLATE}', version: '1.0.0', default_dependent_system: 'fixture',
          identity_strategy: 'unique', retry: { max_attempts: 3, backoff_base_ms: 50, backoff_cap_ms: 200 },
          steps: [1, 2, 3].map((i) => ({ name: 's' + i, handler: 'recorded', timeout_ms: 5000, depends_on: i === 1 ? [] : ['s' + (i - 1)] })),
        }));
        const ids = [];
        for (let i = 0; i < ${count}; i++) ids.push((await createTask({ pool, dispatcher }, { namespace: 'e2e', name: '${TEMPLATE}', context: { sleepMs: 30 } })).task.id);
        console.log(JSON.stringify(ids));
        await dispatcher.close(); redis.disconnect(); await pool.end();`;
      const producer = start(join(oldTree, 'tests'), '-', env, ['--input-type=module', '-e', script]);
      // `-` is never read: with -e, node runs the script and ignores a file argument.
      expect(await producer.exited).toBe(0);
      return JSON.parse(producer.output().trim().split('\n').at(-1)!) as string[];
    };
    const dispatcher = new StepDispatcher({ connection: redis.connection(), prefix: redis.prefix });
    const createWithThisRelease = async (count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const { task } = await createTask(
          { pool, dispatcher },
          { namespace: 'e2e', name: TEMPLATE, context: { sleepMs: 30 } },
        );
        ids.push(task.id);
      }
      return ids;
    };
    const completed = async (ids: string[]) => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
        [ids],
      );
      return rows[0].n as number;
    };

    const began = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${Date.now() - began} ms`);
    // The previous release is deployed: its migrations, its scheduler, two workers.
    const oldMigrate = start(oldTree, 'packages/db/src/migrate-cli.ts', env);
    expect(await oldMigrate.exited).toBe(0);
    const current = (await listMigrations()).map((m) => m.name);
    const previous = (await listMigrations(join(oldTree, 'prisma/migrations'))).map((m) => m.name);
    expect(current.slice(0, previous.length)).toEqual(previous);
    expect(previous.length).toBeLessThan(current.length);
    await pool.query(sideEffectsSql);
    const oldScheduler = start(oldTree, 'apps/scheduler/src/main.ts', schedulerEnv);
    const oldWorkers = ['old-a', 'old-b'].map((id) =>
      start(oldTree, 'apps/worker/src/main.ts', workerEnv(oldTree, id)),
    );
    const ids = await createWithPreviousRelease(60);
    await waitFor(
      'the previous release to complete some tasks',
      async () => (await completed(ids)) >= 10,
      60_000,
    );

    // 1. migrate (this release) while the previous release works.
    const migratedAt = new Date();
    const migrate = start(repoRoot, 'packages/db/src/migrate-cli.ts', env);
    expect(await migrate.exited).toBe(0);
    expect(migrate.output()).toContain(`"applied":${current.length - previous.length}`);
    phase('migrated');
    ids.push(...(await createWithPreviousRelease(30)));

    // 2. schedulers.
    expect(await stop(oldScheduler)).toBe(0);
    start(repoRoot, 'apps/scheduler/src/main.ts', schedulerEnv);
    ids.push(...(await createWithThisRelease(30)));
    phase('schedulers replaced');

    // 3. workers, one at a time (maxUnavailable 1), each drained before its replacement starts.
    for (const [i, old] of oldWorkers.entries()) {
      expect(await stop(old)).toBe(0);
      start(repoRoot, 'apps/worker/src/main.ts', workerEnv(repoRoot, `new-${i}`));
    }
    ids.push(...(await createWithThisRelease(30)));
    phase('workers replaced');

    await waitFor('every task to complete', async () => (await completed(ids)) === ids.length, 90_000);
    phase('all complete');
    const { rows: perStep } = await pool.query(
      `SELECT task_id, step_name, count(*)::int AS n FROM side_effects WHERE kind = 'completed' GROUP BY 1, 2`,
    );
    expect(perStep).toHaveLength(ids.length * 3);
    expect(perStep.filter((row) => row.n !== 1)).toEqual([]);
    // The previous release's workers really ran steps on the new schema, and the new ones too.
    const { rows: byWorker } = await pool.query(
      `SELECT a.worker_id, count(*)::int AS n FROM step_attempts a WHERE a.outcome = 'success' AND a.finished_at > $1
        GROUP BY 1`,
      [migratedAt],
    );
    const ranAfterMigration = Object.fromEntries(byWorker.map((row) => [row.worker_id, row.n]));
    console.info(
      `[measure] rolling upgrade: ${ids.length} tasks; steps finished after the migration by worker: ${JSON.stringify(ranAfterMigration)}; ${phases.join(', ')}`,
    );
    expect((ranAfterMigration['old-a'] ?? 0) + (ranAfterMigration['old-b'] ?? 0)).toBeGreaterThan(0);
    expect((ranAfterMigration['new-0'] ?? 0) + (ranAfterMigration['new-1'] ?? 0)).toBeGreaterThan(0);
    await dispatcher.close();
  }, 180_000);
});
