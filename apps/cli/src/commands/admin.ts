import { applyMigrations, ensureDatabase } from '@switchyard/db';
import { loadTemplateFiles, registerTemplates } from '@switchyard/engine';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { formatTemplates } from '../output.ts';

/** `switchyard migrate` and `switchyard templates sync|list`. */
export function registerAdminCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('migrate')
    .description('create the database if missing and apply pending migrations (DATABASE_URL)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const url = ctx().databaseUrl();
      const created = await ensureDatabase(url);
      const { applied } = await applyMigrations(url, {
        logger: {
          info: (obj: object, msg?: string) =>
            !opts.json && ctx().io.out(`${msg ?? ''} ${JSON.stringify(obj)}`),
        },
      });
      if (opts.json) ctx().io.out(JSON.stringify({ created, applied }));
      else ctx().io.out(applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date');
    });
  const templates = program.command('templates').description('task templates');
  templates
    .command('sync <paths...>')
    .description('register the YAML templates of these files or directories (DATABASE_URL)')
    .option('--json', 'print JSON')
    .action(async (paths: string[], opts: { json?: boolean }) => {
      const loaded = await loadTemplateFiles(paths);
      // One at a time, printing each: a refused version names itself and stops the sync.
      for (const template of loaded) {
        await registerTemplates(ctx().pool(), [template]);
        const ref = `${template.namespace}/${template.name}@${template.version}`;
        ctx().io.out(opts.json ? JSON.stringify({ registered: ref }) : `registered ${ref}`);
      }
      if (!opts.json) ctx().io.out(`${loaded.length} template(s) in sync`);
    });
  templates
    .command('list')
    .description('registered templates and their versions (through the API)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await ctx().client().listTemplates();
      ctx().io.out(opts.json ? JSON.stringify(list, null, 2) : formatTemplates(list));
    });
}
