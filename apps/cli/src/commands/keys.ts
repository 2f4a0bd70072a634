import { userInfo } from 'node:os';
import { API_KEY_SCOPES, type ApiKeyView, createApiKey, listApiKeys, revokeApiKey } from '@switchyard/db';
import type { Command } from 'commander';
import { type CliContext, UsageError } from '../context.ts';
import { table } from '../output.ts';

function formatKeys(keys: ApiKeyView[]): string {
  if (keys.length === 0) return 'no keys';
  return table(
    ['PREFIX', 'NAME', 'SCOPES', 'NAMESPACES', 'CREATED', 'LAST USED', 'REVOKED', 'EXPIRES'],
    keys.map((k) => [
      k.prefix,
      k.name,
      k.scopes.join(','),
      k.namespaces.join(',') || '(all)',
      k.createdAt.toISOString(),
      k.lastUsedAt?.toISOString() ?? '-',
      k.revokedAt?.toISOString() ?? '-',
      expiryText(k.expiresAt),
    ]),
  );
}

function expiryText(expiresAt: Date | null): string {
  if (!expiresAt) return 'never';
  return `${expiresAt.toISOString()}${expiresAt.getTime() <= Date.now() ? ' (expired)' : ''}`;
}

const splitList = (values: string[] | undefined) =>
  (values ?? [])
    .flatMap((value) => value.split(','))
    .map((v) => v.trim())
    .filter(Boolean);

/**
 * The namespaces of `--namespace`. An empty name is refused rather than dropped: `--namespace ""`
 * (say, from an unset shell variable) would otherwise make a key for every namespace.
 */
export function parseNamespaces(values: string[] | undefined): string[] {
  if (values === undefined) return [];
  const names = values.flatMap((value) => value.split(',')).map((v) => v.trim());
  if (names.length === 0 || names.some((name) => name === '')) {
    throw new UsageError(
      '--namespace must name a namespace (empty names are refused); leave it out for a key for every namespace',
    );
  }
  return names;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Ten years: further than any key should live, and well inside what a Date holds. */
const MAX_EXPIRY_MS = 10 * 365 * UNIT_MS.d;

/** Milliseconds of a duration such as `90s`, `30m`, `12h` or `30d`; refuses 0 and anything else. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms > 0 && ms <= MAX_EXPIRY_MS)) {
    throw new UsageError(
      `--expires-in must be a whole number > 0 followed by s, m, h or d (at most 3650d), e.g. 30d; got "${text}"`,
    );
  }
  return ms;
}

type KeyCreateOptions = {
  name: string;
  scope: string[];
  namespace?: string[];
  expiresIn?: string;
  json?: boolean;
};

/** `switchyard keys create|list|revoke`: straight on the database, so the first key can be made. */
export function registerKeyCommands(program: Command, ctx: () => CliContext): void {
  const keys = program.command('keys').description('API keys (on the database named by DATABASE_URL)');
  keys
    .command('create')
    .description('create a key; it is shown once, only its hash is stored')
    .requiredOption('--name <name>', 'who or what uses it')
    .requiredOption('--scope <scope...>', `one or more of ${API_KEY_SCOPES.join(', ')}`)
    .option('--namespace <namespace...>', 'namespaces it may touch (default: all)')
    .option(
      '--expires-in <duration>',
      'refused after this long: a number and s, m, h or d, e.g. 30d (default: never)',
    )
    .option('--json', 'print JSON')
    .action(async (opts: KeyCreateOptions) => {
      const namespaces = parseNamespaces(opts.namespace);
      const expiresAt =
        opts.expiresIn === undefined ? null : new Date(Date.now() + parseDuration(opts.expiresIn));
      const created = await createApiKey(ctx().pool(), {
        name: opts.name,
        scopes: splitList(opts.scope),
        namespaces,
        createdBy: `cli:${userInfo().username}`,
        expiresAt,
      });
      if (opts.json) ctx().io.out(JSON.stringify({ key: created.key, ...created.view }, null, 2));
      else
        ctx().io.out(
          `${created.key}\n\nkey ${created.view.prefix} (${created.view.name}) created${
            created.view.expiresAt ? `, expires ${created.view.expiresAt.toISOString()}` : ''
          }; store it now, it is not shown again`,
        );
    });
  keys
    .command('list')
    .description('every key, revoked ones included')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await listApiKeys(ctx().pool());
      ctx().io.out(opts.json ? JSON.stringify(list, null, 2) : formatKeys(list));
    });
  keys
    .command('revoke <idOrPrefix>')
    .description('revoke a key by id or prefix; it stops working at once')
    .option('--json', 'print JSON')
    .action(async (idOrPrefix: string, opts: { json?: boolean }) => {
      const key = await revokeApiKey(ctx().pool(), idOrPrefix);
      ctx().io.out(opts.json ? JSON.stringify(key, null, 2) : `key ${key.prefix} (${key.name}) revoked`);
    });
}
