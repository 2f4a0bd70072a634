/**
 * The CLI end to end: a real API process started by `switchyard api`, a real worker, and the
 * commands run as the user would (in-process through runCli, and once as a separate process).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, type Pool } from '@switchyard/db';
import { type RunningWorker, startWorker } from '@switchyard/engine';
import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TEMPLATE = `
namespace: cli
name: signup
version: 1.0.0
default_dependent_system: accounts
context_schema: { type: object, required: [email], properties: { email: { type: string, format: email } } }
steps:
  - name: create_account
    handler: cli_create
  - name: welcome
    handler: cli_welcome
    depends_on: [create_account]
`;

let database: TestDatabase;
let redis: TestRedis;
let pool: Pool;
let api: ChildProcess;
let worker: RunningWorker;
let dir: string;
let env: NodeJS.ProcessEnv;
let failWelcome = false;

// Its step type has no worker here, so its task stays in progress: a wait on it times out.
const STUCK_TEMPLATE = `
namespace: cli
name: stuck
version: 1.0.0
default_dependent_system: accounts
steps:
  - name: never
    handler: cli_nobody
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Runs one command line with `runEnv`; returns its status and what it printed. */
async function cliIn(runEnv: NodeJS.ProcessEnv, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, runEnv);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Runs one command line with the test's environment. */
const cli = (...argv: string[]) => cliIn(env, ...argv);

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedis();
  pool = createPool(database.url, { max: 4 });
  dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
  await writeFile(join(dir, 'signup.yaml'), TEMPLATE);
  await writeFile(join(dir, 'stuck.yaml'), STUCK_TEMPLATE);
  const port = await freePort();
  env = {
    PATH: process.env.PATH,
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SWITCHYARD_QUEUE_PREFIX: redis.prefix,
    SWITCHYARD_API_URL: `http://127.0.0.1:${port}`,
    SWITCHYARD_API_HOST: '127.0.0.1',
    SWITCHYARD_API_PORT: String(port),
    LOG_LEVEL: 'silent',
  };
  const created = await cli('keys', 'create', '--name', 'ops', '--scope', 'admin', '--json');
  env.SWITCHYARD_API_KEY = JSON.parse(created.out).key;
  api = spawn(process.execPath, ['--import', 'tsx', MAIN, 'api'], { env, stdio: 'inherit' });
  worker = await startWorker({
    handlers: [
      defineStepHandler('cli_create', () => ({ user_id: 7 })),
      defineStepHandler('cli_welcome', () => {
        if (failWelcome) throw new PermanentError('mailbox full', { errorCode: 'mailbox_full' });
        return { sent: true };
      }),
    ],
    pool,
    redis: redis.connection(),
    queuePrefix: redis.prefix,
    logger: createLogger({ name: 'cli-test', level: 'silent' }),
  });
  for (let i = 0; i < 200; i++) {
    const live = await fetch(`${env.SWITCHYARD_API_URL}/health/live`).catch(() => null);
    if (live?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the API did not start');
});

afterAll(async () => {
  await worker?.stop();
  if (api && api.exitCode === null) {
    const exited = new Promise((resolve) => api.once('exit', resolve));
    api.kill('SIGTERM');
    await exited;
  }
  await pool?.end();
  await redis?.cleanup();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('switchyard CLI', () => {
  it('migrates, syncs templates and lists them', async () => {
    expect(await cli('migrate')).toMatchObject({ code: 0, out: 'database is up to date' });
    const sync = await cli('templates', 'sync', dir);
    expect(sync).toMatchObject({ code: 0, out: expect.stringContaining('registered cli/signup@1.0.0') });
    expect(await cli('templates', 'sync', join(dir, 'missing.yaml'))).toMatchObject({ code: 2 });
    const list = await cli('templates', 'list');
    expect(list.out).toMatch(/cli\/signup\s+1\.0\.0\s+1\.0\.0/);
  });

  it('creates a task and watches it to completion, showing progress', async () => {
    const run = await cli(
      'tasks',
      'create',
      'cli',
      'signup',
      '--context',
      '{"email":"a@example.com"}',
      '--wait',
    );
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/created task [0-9a-f-]{36}/);
    expect(run.out).toMatch(/welcome\s+complete/);
    expect(run.out).toContain('task complete');

    const id = /created task ([0-9a-f-]{36})/.exec(run.out)![1]!;
    const got = await cli('tasks', 'get', id, '--json');
    expect(JSON.parse(got.out)).toMatchObject({
      id,
      status: 'complete',
      steps: [{ name: 'create_account' }, { name: 'welcome' }],
    });
    const human = await cli('tasks', 'get', id);
    expect(human.out).toMatch(/welcome\s+complete\s+1\/3\s+create_account\s+accounts/);
    const listed = await cli('tasks', 'list', '--namespace', 'cli', '--status', 'complete', '--json');
    expect(JSON.parse(listed.out).tasks.map((t: { id: string }) => t.id)).toContain(id);
  });

  it('repairs a failed task: watch exits 10, resolve-step finishes it', async () => {
    failWelcome = true;
    const run = await cli(
      'tasks',
      'create',
      'cli',
      'signup',
      '--context',
      '{"email":"b@example.com"}',
      '--wait',
    );
    expect(run.code).toBe(10);
    expect(run.out).toContain('task error');
    const id = /created task ([0-9a-f-]{36})/.exec(run.out)![1]!;
    const resolved = await cli(
      'tasks',
      'resolve-step',
      id,
      'welcome',
      '--results',
      '{"sent":"by hand"}',
      '--json',
    );
    expect(resolved.code).toBe(0);
    expect(JSON.parse(resolved.out).status).toBe('complete');
    const retry = await cli('tasks', 'retry-step', id, 'welcome');
    expect(retry.code).toBe(4);
    expect(retry.err).toContain('is complete');
  });

  it('exits with codes that mean something', async () => {
    const invalid = await cli('tasks', 'create', 'cli', 'signup', '--context', '{"email":"nope"}');
    expect(invalid.code).toBe(2);
    expect(invalid.err).toContain('/context/email');
    expect((await cli('tasks', 'create', 'cli', 'signup', '--context', '{oops')).code).toBe(2);
    expect((await cli('tasks', 'get', '00000000-0000-4000-8000-000000000000')).code).toBe(3);
    const bareEnv = env;
    env = { ...env, SWITCHYARD_API_KEY: 'sy_wrong_key' };
    expect((await cli('tasks', 'list')).code).toBe(5);
    env = bareEnv;
    expect((await cli('tasks', 'frobnicate')).code).toBe(2);
  });

  it('operates breakers and keys', async () => {
    const opened = await cli('breakers', 'open', 'accounts', '--reason', 'maintenance');
    expect(opened.out).toMatch(/accounts\s+open\s+open/);
    expect((await cli('breakers', 'list')).out).toMatch(/accounts\s+open/);
    expect((await cli('breakers', 'reset', 'accounts', '--reason', 'done')).out).toMatch(
      /accounts\s+closed\s+-/,
    );
    expect((await cli('breakers', 'open', 'accounts')).code).toBe(2);
    // A system no template calls (a typo) is not found, and no breaker is made for it.
    const typo = await cli('breakers', 'open', 'acounts', '--reason', 'maintenance');
    expect(typo).toMatchObject({ code: 3, err: expect.stringContaining('acounts') });
    expect((await cli('breakers', 'list')).out).not.toContain('acounts');

    const set = await cli(
      'limits',
      'set',
      'accounts',
      '--max-concurrent',
      '3',
      '--rate',
      '2',
      '--reason',
      'protect it',
    );
    expect(set.out).toMatch(/accounts\s+3\s+2\/s burst 2\s+0\s+0\s+key:/);
    expect((await cli('limits', 'list')).out).toMatch(/accounts\s+3/);
    expect((await cli('limits', 'get', 'accounts')).out).toMatch(
      /operator\s+3\s+2\/s burst 2\s+key:\S+\s+override by operator: protect it/,
    );
    expect((await cli('limits', 'reset', 'accounts', '--reason', 'done')).out).toMatch(/accounts\s+-\s+-/);
    expect((await cli('limits', 'set', 'accounts', '--max-concurrent', 'many', '--reason', 'x')).code).toBe(
      2,
    );

    const made = JSON.parse(
      (
        await cli(
          'keys',
          'create',
          '--name',
          'reader',
          '--scope',
          'tasks:read',
          '--namespace',
          'cli',
          '--json',
        )
      ).out,
    );
    expect((await cli('keys', 'list')).out).toMatch(
      new RegExp(`${made.prefix}\\s+reader\\s+tasks:read\\s+cli`),
    );
    expect((await cli('keys', 'create', '--name', 'x', '--scope', 'everything')).code).toBe(2);
    const everywhere = await cli('keys', 'create', '--name', 'x', '--scope', 'tasks:read', '--namespace', '');
    expect(everywhere).toMatchObject({
      code: 2,
      err: expect.stringContaining('--namespace must name a namespace'),
    });
    for (const bad of ['0', '0d', 'soon', '30']) {
      const refused = await cli(
        'keys',
        'create',
        '--name',
        'x',
        '--scope',
        'tasks:read',
        '--expires-in',
        bad,
      );
      expect(refused).toMatchObject({ code: 2, err: expect.stringContaining('--expires-in') });
    }
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM api_keys WHERE name = 'x'");
    expect(rows[0].n).toBe(0);
    const before = Date.now();
    const expiring = JSON.parse(
      (
        await cli(
          'keys',
          'create',
          '--name',
          'temp',
          '--scope',
          'tasks:read',
          '--expires-in',
          '30d',
          '--json',
        )
      ).out,
    );
    const expiresAt = Date.parse(expiring.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(expiresAt).toBeLessThan(Date.now() + 30 * 86_400_000 + 5000);
    expect((await cli('keys', 'list')).out).toMatch(
      new RegExp(`${expiring.prefix}\\s+temp\\s+tasks:read\\s+\\(all\\).*${expiring.expiresAt}`),
    );
    expect((await cli('keys', 'list')).out).toMatch(new RegExp(`${made.prefix}\\s.*never`));
    expect((await cli('keys', 'revoke', made.prefix)).out).toContain('revoked');
    expect((await cli('keys', 'revoke', 'nosuchkey')).code).toBe(3);
  });

  it('create --wait --json prints the created task and the task as it ended, and exits by it', async () => {
    failWelcome = false;
    const args = ['tasks', 'create', 'cli', 'signup', '--wait', '--json', '--context'];
    const done = await cli(...args, '{"email":"c@example.com"}');
    expect(done).toMatchObject({ code: 0, err: '' });
    const doneOut = JSON.parse(done.out);
    expect(doneOut).toMatchObject({
      duplicate: false,
      task: { namespace: 'cli', name: 'signup' },
      final: { status: 'complete', steps: [{ status: 'complete' }, { status: 'complete' }] },
    });
    expect(doneOut.final.id).toBe(doneOut.task.id);

    failWelcome = true;
    const failed = await cli(...args, '{"email":"d@example.com"}');
    failWelcome = false;
    expect(failed).toMatchObject({ code: 10, err: '' });
    expect(JSON.parse(failed.out).final).toMatchObject({ status: 'error' });
  });

  it('create --wait exits 6 when the wait times out, still naming the task', async () => {
    // Tasks with equal contexts are one task (the template's identity is its content).
    const args = ['tasks', 'create', 'cli', 'stuck', '--wait', '--timeout', '0.5', '--context'];
    const human = await cli(...args, '{"run":1}');
    expect(human.code).toBe(6);
    expect(human.err).toMatch(/^error: task [0-9a-f-]{36} still (pending|in_progress) after 500 ms$/);

    const run = await cli(...args, '{"run":2}', '--json');
    expect(run.code).toBe(6);
    const out = JSON.parse(run.out);
    expect(out.duplicate).toBe(false);
    expect(out.final).toMatchObject({
      id: out.task.id,
      status: expect.stringMatching(/pending|in_progress/),
    });
    expect(JSON.parse(run.err)).toEqual({
      error: { code: 'wait_timeout', message: expect.stringContaining(out.task.id), exitCode: 6 },
    });
    for (const id of [out.task.id, /created task ([0-9a-f-]{36})/.exec(human.out)![1]!])
      expect(await cli('tasks', 'cancel', id)).toMatchObject({ err: '', code: 0 });
  });

  it('prints API errors as JSON on stderr with --json', async () => {
    const missing = await cli('tasks', 'get', '00000000-0000-4000-8000-000000000000', '--json');
    expect(missing).toMatchObject({ code: 3, out: '' });
    expect(JSON.parse(missing.err)).toEqual({
      error: {
        code: 'not_found',
        message: expect.stringContaining('does not exist'),
        exitCode: 3,
        status: 404,
      },
    });
    const invalid = await cli('tasks', 'create', 'cli', 'signup', '--context', '{"email":"nope"}', '--json');
    expect(invalid.code).toBe(2);
    expect(JSON.parse(invalid.err).error).toMatchObject({
      exitCode: 2,
      status: 400,
      details: [expect.objectContaining({ path: '/context/email' })],
    });
  });

  it('says to migrate when the database is missing or not migrated', async () => {
    const url = new URL(database.url);
    url.pathname = `/${database.name}_missing`;
    const missing = await cliIn({ ...env, DATABASE_URL: url.toString() }, 'keys', 'list', '--json');
    expect(missing.code).toBe(6);
    expect(JSON.parse(missing.err).error).toMatchObject({
      code: 'database_missing',
      message: expect.stringContaining(`${url.hostname}:${url.port}/${database.name}_missing`),
    });

    const bare = await createTestDatabase();
    try {
      await bare.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
      const bareEnv = { ...env, DATABASE_URL: bare.url };
      const notMigrated = await cliIn(bareEnv, 'keys', 'list');
      expect(notMigrated.code).toBe(6);
      expect(notMigrated.err).toContain('is not migrated');
      expect(notMigrated.err).toContain('run `switchyard migrate`');
      expect((await cliIn(bareEnv, 'migrate', '--json')).code).toBe(0);
      expect(await cliIn(bareEnv, 'keys', 'list')).toMatchObject({ code: 0, out: 'no keys' });
    } finally {
      await bare.drop();
    }
  });

  it('runs as a process of its own with the same exit codes', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', MAIN, 'tasks', 'get', '00000000-0000-4000-8000-000000000000'],
      {
        env,
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('does not exist');
  });

  it('a worker whose handler module does not load exits 2 (its process exits EX_CONFIG)', async () => {
    const missing = join(tmpdir(), `switchyard-no-such-handlers-${process.pid}.mjs`);
    const { code } = await cliIn(
      { ...env, SWITCHYARD_HANDLER_MODULES: missing, LOG_LEVEL: 'silent' },
      'worker',
    );
    expect(code).toBe(2);
  });
});
