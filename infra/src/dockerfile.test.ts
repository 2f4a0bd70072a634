import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lintDockerfile } from './dockerfile-lint.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
const ROLES = JSON.parse(readFileSync(new URL('../docker/roles.json', import.meta.url), 'utf8')) as Record<
  string,
  string
>;

/** .dockerignore patterns as regular expressions (`**`, `*`, directory prefixes). */
function ignoredBy(patterns: string[]): (path: string) => boolean {
  const regexes = patterns.map((p) => {
    const body = p
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*\//g, '\0')
      .replace(/\*/g, '[^/]*')
      .replaceAll('\0', '(.*/)?');
    return new RegExp(`^${body}(/.*)?$`);
  });
  return (path) => regexes.some((r) => r.test(path));
}

describe('infra/Dockerfile', () => {
  it('passes the linter', () => {
    expect(lintDockerfile(dockerfile)).toEqual([]);
  });

  it('lints the Dockerfile a team builds in its own repository with the same rules', () => {
    const teamImage = readFileSync(new URL('../docker/team-image.Dockerfile', import.meta.url), 'utf8');
    expect(lintDockerfile(teamImage)).toEqual([]);
  });

  it('fails a deliberately broken Dockerfile, naming each mistake', () => {
    const broken = dockerfile
      .replace('USER node', 'USER root')
      .replace('node:24-bookworm-slim', 'node:22')
      .replace('--no-install-recommends ', '')
      .replace('tini=0.19.*', 'tini')
      .replace('ENTRYPOINT ["/usr/bin/tini", "--", ', 'ENTRYPOINT [')
      .replace('COPY infra/docker', 'COPPY infra/docker');
    expect(lintDockerfile(broken)).toEqual([
      expect.stringMatching(/Unknown instruction: COPPY/),
      expect.stringMatching(/base image node:22 must be a Node 24 slim tag/),
      expect.stringMatching(/base image node:22 must be a Node 24 slim tag/),
      expect.stringMatching(/apt-get install needs --no-install-recommends/),
      expect.stringMatching(/pin the version of tini/),
      'the runtime stage must switch to a non-root USER (DL3002)',
      expect.stringMatching(/PID 1 must be tini \(or dumb-init\), not node/),
    ]);
  });

  it('keeps in the build context every file a role runs', () => {
    const patterns = readFileSync(`${root}.dockerignore`, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignored = ignoredBy(patterns);
    const needed = [
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      '.npmrc',
      'prisma/schema.prisma',
      'prisma/migrations/migration_lock.toml',
      'infra/docker/entrypoint.mjs',
      'infra/docker/roles.json',
      'infra/docker/healthcheck.mjs',
      'infra/docker/package.json',
      'infra/package.json',
      'examples/user-registration/templates/user_registration.yaml',
      'apps/api/src/main.ts',
      'apps/worker/src/main.ts',
      'apps/scheduler/src/main.ts',
      'apps/dashboard/index.html',
    ];
    expect(needed.filter(ignored)).toEqual([]);
    expect(
      ['node_modules/x', 'packages/db/node_modules/x', '.git/HEAD', 'infra/k8s/base/api.yaml'].every(ignored),
    ).toBe(true);
  });

  it.each(Object.entries(ROLES))('role %s runs a module that resolves (%s)', (_role, specifier) => {
    // Resolved from where the entrypoint is, as the image resolves it from /opt/switchyard.
    const resolve = createRequire(`${root}infra/docker/entrypoint.mjs`).resolve;
    expect(existsSync(resolve(specifier))).toBe(true);
  });
});
