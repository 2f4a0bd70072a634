/**
 * The command line without any server: version, usage errors, bad settings, and database
 * commands against a port where nothing listens (the way an unreachable Postgres looks).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, wantsJson } from './program.ts';

const UNREACHABLE = 'postgresql://postgres@127.0.0.1:1/switchyard_cli';
const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

async function cli(env: NodeJS.ProcessEnv, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The one JSON object a failed `--json` command prints on stderr. */
function jsonError(text: string) {
  expect(text.split('\n')).toHaveLength(1);
  return (JSON.parse(text) as { error: { code: string; message: string; exitCode: number } }).error;
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-unit-'));
  await writeFile(
    join(dir, 'one.yaml'),
    'namespace: unit\nname: one\nversion: 1.0.0\ndefault_dependent_system: unit\nsteps:\n  - name: only\n    handler: unit_only\n',
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('switchyard --version', () => {
  it.each(['--version', '-V'])('%s prints the package version and exits 0', async (flag) => {
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(await cli({}, flag)).toEqual({ code: 0, out: VERSION, err: '' });
  });
});

describe('database commands with Postgres unreachable', () => {
  const env = { DATABASE_URL: UNREACHABLE };
  const commands = [
    ['migrate'],
    ['templates', 'sync', '<dir>'],
    ['keys', 'create', '--name', 'ops', '--scope', 'admin'],
    ['keys', 'list'],
    ['keys', 'revoke', 'sy_abc'],
  ];

  it.each(commands)('%s … exits 6 naming the server', async (...argv) => {
    const run = await cli(env, ...argv.map((arg) => (arg === '<dir>' ? dir : arg)));
    expect(run.code).toBe(6);
    expect(run.err).toBe(
      'error: cannot reach Postgres at 127.0.0.1:1/switchyard_cli (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:1; start Postgres or point DATABASE_URL at it',
    );
  });

  it.each(commands)('%s … --json prints the error as one JSON object on stderr', async (...argv) => {
    const run = await cli(env, ...argv.map((arg) => (arg === '<dir>' ? dir : arg)), '--json');
    expect(run).toMatchObject({ code: 6, out: '' });
    expect(jsonError(run.err)).toEqual({
      code: 'database_unavailable',
      message: expect.stringContaining('cannot reach Postgres at 127.0.0.1:1/switchyard_cli (DATABASE_URL)'),
      exitCode: 6,
    });
  });
});

describe('bad DATABASE_URL', () => {
  it('exits 2 naming the variable when it is not a URL', async () => {
    const run = await cli({ DATABASE_URL: 'db:5432' }, 'migrate');
    expect(run).toMatchObject({ code: 2 });
    expect(run.err).toBe(
      'error: invalid configuration: DATABASE_URL must be an absolute URL such as scheme://host:port/path',
    );
    const json = await cli({ DATABASE_URL: 'db:5432' }, 'keys', 'list', '--json');
    expect(JSON.parse(json.err)).toEqual({
      error: {
        code: 'config_invalid',
        message:
          'invalid configuration: DATABASE_URL must be an absolute URL such as scheme://host:port/path',
        exitCode: 2,
        details: [
          { path: 'DATABASE_URL', message: 'must be an absolute URL such as scheme://host:port/path' },
        ],
      },
    });
  });

  it.each([['migrate'], ['keys', 'list']])('exits 2 when it does not name Postgres (%s)', async (...argv) => {
    const run = await cli({ DATABASE_URL: 'http://127.0.0.1:1/switchyard' }, ...argv);
    expect(run).toEqual({
      code: 2,
      out: '',
      err: 'error: DATABASE_URL must be a postgresql:// URL (got a http: URL); set it to the Postgres to use',
    });
  });
});

describe('usage errors', () => {
  it('print commander’s message and help without --json', async () => {
    const run = await cli({}, 'tasks', 'frobnicate');
    expect(run.code).toBe(2);
    expect(run.err).toContain("error: unknown command 'frobnicate'");
  });

  it.each([
    [['tasks', 'frobnicate', '--json'], "unknown command 'frobnicate'"],
    [['tasks', 'get', '--json'], "missing required argument 'id'"],
    [['keys', 'create', '--scope', 'admin', '--json'], "required option '--name <name>' not specified"],
    [['tasks', 'list', '--limit', 'ten', '--json'], '--limit must be an integer'],
    [
      ['tasks', 'watch', 'x', '--timeout', '0', '--json'],
      '--timeout must be a number of seconds > 0, got "0"',
    ],
  ])('are one JSON object on stderr with --json: %s', async (argv, message) => {
    const run = await cli({}, ...argv);
    expect(run).toMatchObject({ code: 2, out: '' });
    expect(jsonError(run.err)).toEqual({ code: 'usage', message, exitCode: 2 });
  });

  it('reads --json only before a `--`', () => {
    expect(wantsJson(['keys', 'list', '--json'])).toBe(true);
    expect(wantsJson(['tasks', 'create', 'a', 'b', '--', '--json'])).toBe(false);
  });
});

describe('templates sync', () => {
  it('names a directory with no templates and exits 2', async () => {
    const run = await cli({ DATABASE_URL: UNREACHABLE }, 'templates', 'sync', join(dir, '..', 'nope-none'));
    expect(run.code).toBe(2);
    const empty = await mkdtemp(join(tmpdir(), 'switchyard-cli-empty-'));
    try {
      const json = await cli({ DATABASE_URL: UNREACHABLE }, 'templates', 'sync', empty, '--json');
      expect(json.code).toBe(2);
      expect(jsonError(json.err)).toEqual({
        code: 'config_invalid',
        message: `template directory ${empty} holds no .yaml or .yml files; name a template file or the directory that holds them`,
        exitCode: 2,
      });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
