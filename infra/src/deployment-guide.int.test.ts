/**
 * Every command in docs/DEPLOYMENT.md is exercised here. Blocks made only of Postgres and Redis
 * client commands run for real, against a scratch database and a private redis-server. The
 * others cannot run here (no Docker engine, no cluster) or would run the whole suite again, so
 * each is checked against what it names: `docker` against the Dockerfile and the Compose file,
 * `kubectl` against the rendered overlays, `pnpm` against the scripts, test files and CLI
 * commands. A command of any other program fails the test until a check for it is written.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPool, pendingMigrations } from '@switchyard/db';
import { createTestDatabase, startRedisServer } from '@switchyard/testing';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Manifest, renderKustomization } from './kustomize.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const fromRoot = (path: string) => join(repoRoot, path);
const guide = readFileSync(fromRoot('docs/DEPLOYMENT.md'), 'utf8');

/** The guide's ```sh blocks, each as its command lines (continuations joined, comments dropped). */
function shBlocks(markdown: string): string[][] {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) =>
    match[1]!
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#')),
  );
}

/** Shell words of one line, quotes removed; `|` and `&&` are words of their own. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** A line's commands: split at `|` and `&&`. */
function commands(line: string): string[][] {
  const result: string[][] = [[]];
  for (const word of words(line)) {
    if (word === '|' || word === '&&') result.push([]);
    else result.at(-1)!.push(word);
  }
  return result;
}

const RUNNABLE = new Set(['pg_dump', 'pg_restore', 'redis-cli']);
const blocks = shBlocks(guide);

const overlays = new Map<string, Manifest[]>();
function rendered(path: string): Manifest[] {
  if (!overlays.has(path)) overlays.set(path, renderKustomization(fromRoot(path)));
  return overlays.get(path)!;
}
/** Objects of the production overlay, the one the guide's kubectl commands apply. */
const production = () => rendered('infra/k8s/overlays/production');

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index !== -1) return args[index + 1];
  return args.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
}

function checkDocker(args: string[]): void {
  if (args[0] === 'build') {
    expect(existsSync(fromRoot(option(args, '-f')!)), 'the Dockerfile').toBe(true);
    expect(existsSync(fromRoot(args.at(-1)!)), 'the build context').toBe(true);
    return;
  }
  expect(args[0]).toBe('compose');
  const file = option(args, '-f')!;
  const compose = parse(readFileSync(fromRoot(file), 'utf8')) as { services: Record<string, unknown> };
  expect(args).toContain('up');
  const scale = option(args, '--scale');
  if (scale) expect(Object.keys(compose.services)).toContain(scale.split('=')[0]);
}

function secretReferences(objects: Manifest[]): { names: Set<string>; keys: Set<string> } {
  const names = new Set<string>();
  const keys = new Set<string>();
  const visit = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    const ref = (record.secretKeyRef ?? null) as { name: string; key: string } | null;
    if (ref) {
      names.add(ref.name);
      keys.add(ref.key);
    }
    if (
      typeof record.parameter === 'string' &&
      typeof record.name === 'string' &&
      typeof record.key === 'string'
    ) {
      names.add(record.name);
      keys.add(record.key);
    }
    Object.values(record).forEach(visit);
  };
  visit(objects);
  return { names, keys };
}

function checkKubectl(args: string[], piped: Manifest[] | null): Manifest[] | null {
  const namespace = option(args, '-n');
  const objects = production();
  if (namespace) expect(objects.every((o) => o.metadata.namespace === namespace)).toBe(true);
  const rest = args.filter((arg, i) => arg !== '-n' && args[i - 1] !== '-n');
  const [verb, ...more] = rest;
  const exists = (kind: string, name: string) =>
    expect(
      objects.some((o) => o.kind === kind && o.metadata.name === name),
      `${kind}/${name}`,
    ).toBe(true);
  switch (verb) {
    case 'kustomize':
      return rendered(more[0]!);
    case 'apply': {
      expect(piped, 'apply reads the output of kubectl kustomize').not.toBeNull();
      const selector = option(rest, '-l');
      if (selector) {
        const [key, value] = selector.split('=');
        expect(
          piped!.some((o) => (o.metadata as { labels?: Record<string, string> }).labels?.[key!] === value),
        ).toBe(true);
      }
      return null;
    }
    case 'create':
      if (more[0] === 'namespace') expect(objects.every((o) => o.metadata.namespace === more[1])).toBe(true);
      else {
        expect(more.slice(0, 2)).toEqual(['secret', 'generic']);
        const refs = secretReferences(objects);
        expect([...refs.names]).toContain(more[2]);
        const keys = rest.filter((arg) => arg.startsWith('--from-literal=')).map((arg) => arg.split('=')[1]!);
        expect(keys.length).toBeGreaterThan(0);
        expect([...refs.keys]).toEqual(expect.arrayContaining(keys));
      }
      return null;
    case 'delete':
      exists('Job', more[1]!);
      expect(more[0]).toBe('job');
      return null;
    case 'wait':
      exists('Job', more.find((arg) => arg.startsWith('job/'))!.slice(4));
      return null;
    case 'rollout':
      expect(more[0]).toBe('status');
      exists('Deployment', more[1]!.replace(/^deployment\//, ''));
      return null;
    default:
      throw new Error(`no check for kubectl ${verb}`);
  }
}

/** Checks a pnpm command; a CLI command is checked by the returned promise (the CLI's own help). */
function checkPnpm(args: string[]): Promise<void> | null {
  const scripts = (
    JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  if (args[0] === 'exec') {
    expect(args.slice(1, 3)).toEqual(['vitest', 'run']);
    for (const path of args.slice(3)) expect(existsSync(fromRoot(path)), path).toBe(true);
    return null;
  }
  expect(Object.keys(scripts)).toContain(args[0]);
  if (args[0] !== 'switchyard') return null;
  // The CLI must know the command: its help names the whole command path.
  const commandWords = args.slice(1);
  const firstArgument = commandWords.findIndex((word) => !/^[a-z][a-z-]*$/.test(word));
  const commandPath = firstArgument === -1 ? commandWords : commandWords.slice(0, firstArgument);
  const cliArgs = commandWords.map((arg) =>
    arg.startsWith('<') ? '00000000-0000-4000-8000-000000000000' : arg,
  );
  return run(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...cliArgs, '--help'], {
    cwd: repoRoot,
    encoding: 'utf8',
  }).then(({ stdout }) => {
    expect(stdout).toContain(`Usage: switchyard ${commandPath.join(' ')}`);
  });
}

describe('docs/DEPLOYMENT.md', () => {
  it('has commands, and each one is of a program this test checks', () => {
    const programs = blocks.flat().flatMap((line) => commands(line).map((command) => command[0]));
    expect(programs.length).toBeGreaterThan(10);
    for (const program of programs) expect(['docker', 'kubectl', 'pnpm', ...RUNNABLE]).toContain(program);
  });

  it('names only files, services, objects, labels, scripts, tests and CLI commands that exist', async () => {
    const checkable = blocks.filter((block) => !block.every((line) => RUNNABLE.has(words(line)[0]!)));
    const cliChecks: Promise<void>[] = [];
    let checked = 0;
    for (const line of checkable.flat()) {
      let piped: Manifest[] | null = null;
      for (const [program, ...args] of commands(line)) {
        if (program === 'docker') checkDocker(args);
        else if (program === 'kubectl') piped = checkKubectl(args, piped);
        else if (program === 'pnpm') {
          const cli = checkPnpm(args);
          if (cli) cliChecks.push(cli);
        } else throw new Error(`${program} in a block that does not run: ${line}`);
        checked += 1;
      }
    }
    // A CLI command that does not exist exits 2 and rejects here.
    await Promise.all(cliChecks);
    expect(checked).toBeGreaterThan(10);
  }, 120_000);

  it('backs up and restores Postgres and flushes Redis with the commands as written', async () => {
    const runnable = blocks.filter((block) => block.every((line) => RUNNABLE.has(words(line)[0]!)));
    expect(runnable).toHaveLength(1);
    const source = await createTestDatabase();
    const target = await createTestDatabase();
    const redisServer = await startRedisServer();
    const work = mkdtempSync(join(tmpdir(), 'switchyard-backup-'));
    try {
      await source.pool.query(`INSERT INTO namespaces (name) VALUES ('backed_up')`);
      // The restore goes into an empty database, as onto a new server.
      await target.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
      const redisCli = (...args: string[]) =>
        execFileSync('redis-cli', ['-u', redisServer.url, ...args], { encoding: 'utf8' }).trim();
      redisCli('SET', 'a-job-of-the-old-timeline', 'x');
      execFileSync('sh', ['-e', '-c', runnable[0]!.join('\n')], {
        cwd: work,
        env: {
          ...process.env,
          DATABASE_URL: source.url,
          RESTORE_DATABASE_URL: target.url,
          REDIS_URL: redisServer.url,
        },
        stdio: 'pipe',
      });
      expect(redisCli('DBSIZE')).toBe('0');
      const restored = createPool(target.url, { max: 1 });
      try {
        const { rows } = await restored.query('SELECT name FROM namespaces');
        expect(rows).toEqual([{ name: 'backed_up' }]);
        expect(await pendingMigrations(restored)).toEqual([]);
      } finally {
        await restored.end();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
      await redisServer.stop();
      await Promise.all([source.drop(), target.drop()]);
    }
  });

  it('names the metrics the api exports, all of them', () => {
    const source = readFileSync(fromRoot('apps/api/src/metrics.ts'), 'utf8');
    const exported = new Set([...source.matchAll(/name: '(switchyard_\w+)'/g)].map((m) => m[1]));
    const named = new Set([...guide.matchAll(/`(switchyard_\w+)[{`]/g)].map((m) => m[1]));
    expect(exported.size).toBeGreaterThan(5);
    expect([...named].sort()).toEqual([...exported].sort());
  });

  it('is linked from the README and infra/README.md', () => {
    expect(readFileSync(fromRoot('README.md'), 'utf8')).toContain('(docs/DEPLOYMENT.md)');
    expect(readFileSync(fromRoot('infra/README.md'), 'utf8')).toContain('(../docs/DEPLOYMENT.md)');
  });
});
