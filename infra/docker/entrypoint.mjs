/**
 * The image's entrypoint: `node infra/docker/entrypoint.mjs <role>` runs one Switchyard role
 * (roles.json maps each to its main module). tsx's loader is registered in this same process,
 * with no wrapper process, so the SIGTERM that tini forwards reaches the role's own handler.
 */
import { readFileSync } from 'node:fs';
import { register } from 'tsx/esm/api';

const ROLES = JSON.parse(readFileSync(new URL('./roles.json', import.meta.url), 'utf8'));

const role = process.argv[2];
if (!role || !Object.hasOwn(ROLES, role)) {
  process.stderr.write(
    `usage: entrypoint.mjs <${Object.keys(ROLES).join('|')}> (got ${role ?? 'nothing'})\n`,
  );
  process.exit(64);
}
register();
await import(new URL(`../../${ROLES[role]}`, import.meta.url).href);
