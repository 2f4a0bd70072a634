/**
 * Switchyard as another team's repository gets it: the packed tarballs installed with plain npm
 * into a project outside this workspace, run with plain node (no tsx, no loader), with the
 * team's own templates and handler module (importing only @switchyard/worker), and a client
 * script that enqueues a task and waits for it. Also: the client installs without any
 * server-side dependency, and a TypeScript file using all three packages typechecks under
 * NodeNext, strict, without skipLibCheck.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPool } from '@switchyard/db';
import {
  createTestDatabase,
  freePort,
  startRedisServer,
  type TestDatabase,
  type TestRedisServer,
} from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const tarballDir = join(repoRoot, 'dist', 'tarballs');
const fixture = fileURLToPath(new URL('./fixtures/outside-project', import.meta.url));
const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
/** What infra/Dockerfile copies into /opt/switchyard before it installs the tarballs there. */
const imageDir = join(repoRoot, 'infra', 'docker');

/** What a server-side dependency looks like in an install tree. */
const SERVER_SIDE = ['pg', 'bullmq', 'ioredis', 'prisma', '@prisma/client', 'fastify'];
/** What no production install of Switchyard may carry. */
const BUILD_TIME = [
  'prisma',
  '@prisma/client',
  'tsx',
  'typescript',
  'playwright-core',
  'react',
  'react-dom',
  'vite',
];

let project: string;
let tarballs: string[];

async function npm(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/**
 * A fresh project outside the workspace with the given tarballs installed the way the image
 * installs them (infra/Dockerfile): its package.json, production dependencies only.
 */
async function installProject(files: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-outside-'));
  cpSync(join(imageDir, 'package.json'), join(dir, 'package.json'));
  await npm(dir, 'install', '--omit=dev', '--omit=peer', ...files);
  return dir;
}

/** Every package name in the project's install tree. */
async function installedNames(dir: string): Promise<Set<string>> {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, unknown>;
  };
  return new Set(
    Object.keys(lock.packages)
      .filter((path) => path.includes('node_modules/'))
      .map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
  );
}

const bin = 'node_modules/.bin/switchyard';

function switchyard(args: string[], env: Record<string, string>) {
  return run(process.execPath, [bin, ...args], {
    cwd: project,
    env: { ...process.env, ...env },
  });
}

beforeAll(async () => {
  await run('pnpm', ['pack:all'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  tarballs = readdirSync(tarballDir).map((name) => join(tarballDir, name));
  project = await installProject(tarballs);
  cpSync(fixture, project, { recursive: true });
  for (const file of ['entrypoint.mjs', 'roles.json']) cpSync(join(imageDir, file), join(project, file));
  const { stdout } = await run('du', ['-sk', join(project, 'node_modules')]);
  console.log(`production install: ${Math.round(Number.parseInt(stdout, 10) / 1024)} MB in node_modules`);
}, 900_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('installed from the tarballs into another project', () => {
  it('installs no build-time package', async () => {
    const names = await installedNames(project);
    expect(names).toContain('switchyard');
    expect(names).toContain('@switchyard/worker');
    expect(BUILD_TIME.filter((name) => names.has(name))).toEqual([]);
  });

  it('installs the client alone without any server-side dependency', async () => {
    const client = tarballs.find((path) => path.endsWith('switchyard-client-0.1.0.tgz'));
    expect(client).toBeDefined();
    const dir = await installProject([client as string]);
    try {
      const names = await installedNames(dir);
      expect(names).toContain('@switchyard/client');
      expect(SERVER_SIDE.filter((name) => names.has(name))).toEqual([]);
      expect([...names].filter((name) => name.startsWith('@switchyard/'))).toEqual(['@switchyard/client']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('typechecks a TypeScript file using all three packages (NodeNext, strict, no skipLibCheck)', async () => {
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch(
      (err: { stdout: string; code: number }) => ({ stdout: err.stdout, code: err.code }),
    );
    expect(result.stdout).toBe('');
  }, 300_000);

  it('prints the version of the installed package', async () => {
    const { stdout } = await switchyard(['--version'], {});
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/switchyard/package.json'), 'utf8'));
    expect(stdout.trim()).toBe(manifest.version);
  });

  describe('runs a fleet with plain node', () => {
    let database: TestDatabase;
    let fleetDatabase: string;
    let redis: TestRedisServer;
    const children: ChildProcess[] = [];
    let env: Record<string, string>;

    beforeAll(async () => {
      // `switchyard migrate` creates this database: the test database's server, a fresh name.
      database = await createTestDatabase();
      const url = new URL(database.url);
      url.pathname = `${url.pathname}_outside`;
      fleetDatabase = url.pathname.slice(1);
      redis = await startRedisServer();
      const port = await freePort();
      env = {
        DATABASE_URL: url.toString(),
        REDIS_URL: redis.url,
        SWITCHYARD_API_HOST: '127.0.0.1',
        SWITCHYARD_API_PORT: String(port),
        SWITCHYARD_API_URL: `http://127.0.0.1:${port}`,
        LOG_LEVEL: 'warn',
      };
    }, 60_000);

    afterAll(async () => {
      await Promise.all(children.map((child) => stopChild(child)));
      await redis?.stop();
      await database?.pool.query(`DROP DATABASE IF EXISTS "${fleetDatabase}" WITH (FORCE)`);
      await database?.drop();
    });

    it('migrates, syncs the team templates, serves, runs its handlers, and the client sees the task complete', async () => {
      const migrated = await switchyard(['migrate'], env);
      expect(migrated.stdout).toMatch(/applied \d+ migration/);
      const key = JSON.parse(
        (await switchyard(['keys', 'create', '--name', 'outside', '--scope', 'admin', '--json'], env)).stdout,
      );
      const synced = await switchyard(['templates', 'sync', './templates'], env);
      expect(synced.stdout).toContain('outside/greeting@1.0.0');

      // The api as the image starts it; the scheduler and the worker with the CLI.
      children.push(start(['entrypoint.mjs', 'api'], env));
      children.push(start([bin, 'scheduler'], env));
      await waitForReady(env.SWITCHYARD_API_URL as string);

      const client = run(process.execPath, ['client.mjs'], {
        cwd: project,
        env: { ...process.env, SWITCHYARD_API_URL: env.SWITCHYARD_API_URL, SWITCHYARD_API_KEY: key.key },
      });
      const pool = createPool(env.DATABASE_URL as string, { max: 1 });
      try {
        // The worker starts once its first job waits: process start → first attempt claimed.
        await waitUntil(async () => (await pool.query('SELECT 1 FROM tasks')).rowCount === 1);
        const workerStarted = Date.now();
        children.push(start([bin, 'worker'], { ...env, SWITCHYARD_HANDLER_MODULES: './handlers.mjs' }));
        const task = JSON.parse((await client).stdout);
        const { rows } = await pool.query('SELECT min(started_at) AS first FROM step_attempts');
        console.log(
          `worker cold start (process start → first job claimed): ${rows[0].first.getTime() - workerStarted} ms`,
        );

        expect(task.status).toBe('complete');
        const deliver = task.steps.find((step: { name: string }) => step.name === 'deliver');
        expect(deliver.results).toEqual({ delivered: 'hello, Ada' });
        // The handler ran in the worker the CLI started, not in this test's process.
        const compose = task.steps.find((step: { name: string }) => step.name === 'compose');
        expect(compose.results.pid).not.toBe(process.pid);
      } finally {
        await pool.end();
      }
    }, 180_000);
  });
});

function start(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, args, {
    cwd: project,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function waitForReady(baseUrl: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${baseUrl}/health/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`${baseUrl} not ready after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
