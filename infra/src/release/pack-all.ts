/**
 * `pnpm pack:all`: builds every published package to JavaScript and writes its installable
 * tarball to dist/tarballs/, then checks what each tarball carries.
 *
 * Published are the three packages other repositories install (`@switchyard/client`,
 * `@switchyard/worker`, `switchyard`) and the internal packages they depend on, each its own
 * tarball: one copy of each module in an install (so the error classes a handler throws are
 * the classes the worker checks), each package declaring only what it imports (the client's
 * install tree has no pg, BullMQ or Prisma), and types emitted by tsc that resolve under
 * NodeNext without a declaration bundler.
 *
 *   pnpm pack:all [--skip-dashboard]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TARBALL_DIR = join(REPO_ROOT, 'dist', 'tarballs');

type PublishedPackage = { name: string; version: string; dir: string };

/** Every workspace package under packages/ and apps/ not marked private. */
export function publishedPackages(): PublishedPackage[] {
  return ['packages', 'apps'].flatMap((group) =>
    readdirSync(join(REPO_ROOT, group))
      .map((name) => join(REPO_ROOT, group, name))
      .filter((dir) => existsSync(join(dir, 'package.json')))
      .map((dir) => ({ dir, ...JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
      .filter((manifest) => !manifest.private)
      .map(({ name, version, dir }) => ({ name, version, dir })),
  );
}

/** The file name `pnpm pack` gives a package's tarball. */
export function tarballName(pkg: { name: string; version: string }): string {
  return `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`;
}

function run(command: string, args: string[], cwd = REPO_ROOT): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Files the packages carry besides dist/: the migrations (db) and the dashboard's build (api). */
function copyAssets(): void {
  const migrations = join(REPO_ROOT, 'packages/db/migrations');
  rmSync(migrations, { recursive: true, force: true });
  cpSync(join(REPO_ROOT, 'prisma/migrations'), migrations, { recursive: true });
  const ui = join(REPO_ROOT, 'apps/api/ui');
  rmSync(ui, { recursive: true, force: true });
  cpSync(join(REPO_ROOT, 'apps/dashboard/dist'), ui, { recursive: true });
}

/** What no tarball may carry: sources, tests, build configuration. */
const FORBIDDEN = [
  /\.test\./,
  /(^|\/)tsconfig[^/]*\.json$/,
  /(?<!\.d)\.ts$/,
  /\.tsbuildinfo$/,
  /(^|\/)test\//,
];

/** The tarball's file list; fails naming a file it must not carry. */
export function checkTarball(path: string): string[] {
  const files = run('tar', ['-tzf', path]).split('\n').filter(Boolean);
  const bad = files.filter((file) => FORBIDDEN.some((pattern) => pattern.test(file)));
  if (bad.length > 0) throw new Error(`${path} carries files it must not: ${bad.join(', ')}`);
  return files;
}

export function packAll(options: { dashboard: boolean }): string[] {
  if (options.dashboard || !existsSync(join(REPO_ROOT, 'apps/dashboard/dist/index.html'))) {
    run('pnpm', ['--filter', '@switchyard/dashboard', 'build']);
  }
  run('pnpm', ['exec', 'tsc', '-b', 'tsconfig.build.json']);
  copyAssets();
  rmSync(TARBALL_DIR, { recursive: true, force: true });
  mkdirSync(TARBALL_DIR, { recursive: true });
  return publishedPackages().map((pkg) => {
    run('pnpm', ['pack', '--pack-destination', TARBALL_DIR], pkg.dir);
    const path = join(TARBALL_DIR, tarballName(pkg));
    const files = checkTarball(path);
    process.stdout.write(`${tarballName(pkg).padEnd(44)} ${String(files.length).padStart(4)} files\n`);
    return path;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { 'skip-dashboard': { type: 'boolean', default: false } } });
  packAll({ dashboard: !values['skip-dashboard'] });
}
