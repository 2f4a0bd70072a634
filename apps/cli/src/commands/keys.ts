import { userInfo } from 'node:os';
import { API_KEY_SCOPES, type ApiKeyView, createApiKey, listApiKeys, revokeApiKey } from '@switchyard/db';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { table } from '../output.ts';

function formatKeys(keys: ApiKeyView[]): string {
  if (keys.length === 0) return 'no keys';
  return table(
    ['PREFIX', 'NAME', 'SCOPES', 'NAMESPACES', 'CREATED', 'LAST USED', 'REVOKED'],
    keys.map((k) => [
      k.prefix,
      k.name,
      k.scopes.join(','),
      k.namespaces.join(',') || '(all)',
      k.createdAt.toISOString(),
      k.lastUsedAt?.toISOString() ?? '-',
      k.revokedAt?.toISOString() ?? '-',
    ]),
  );
}

const splitList = (values: string[] | undefined) =>
  (values ?? [])
    .flatMap((value) => value.split(','))
    .map((v) => v.trim())
    .filter(Boolean);

/** `switchyard keys create|list|revoke`: straight on the database, so the first key can be made. */
export function registerKeyCommands(program: Command, ctx: () => CliContext): void {
  const keys = program.command('keys').description('API keys (on the database named by DATABASE_URL)');
  keys
    .command('create')
    .description('create a key; it is shown once, only its hash is stored')
    .requiredOption('--name <name>', 'who or what uses it')
    .requiredOption('--scope <scope...>', `one or more of ${API_KEY_SCOPES.join(', ')}`)
    .option('--namespace <namespace...>', 'namespaces it may touch (default: all)')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; scope: string[]; namespace?: string[]; json?: boolean }) => {
      const created = await createApiKey(ctx().pool(), {
        name: opts.name,
        scopes: splitList(opts.scope),
        namespaces: splitList(opts.namespace),
        createdBy: `cli:${userInfo().username}`,
      });
      if (opts.json) ctx().io.out(JSON.stringify({ key: created.key, ...created.view }, null, 2));
      else
        ctx().io.out(
          `${created.key}\n\nkey ${created.view.prefix} (${created.view.name}) created; store it now, it is not shown again`,
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
