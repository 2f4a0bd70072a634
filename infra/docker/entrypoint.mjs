/**
 * The image's entrypoint: `node entrypoint.mjs <role>` runs one Switchyard role in this same
 * process (no wrapper process, so the SIGTERM that tini forwards reaches the role's own
 * handler); roles.json maps each role to its package's `./main` export. Any other command goes
 * to the `switchyard` CLI: `migrate`, `keys create ...`, `templates sync ...`, `--version`.
 *
 * In the image the mains are compiled JavaScript under /opt/switchyard/node_modules. Run from
 * this repository's workspace they resolve to TypeScript sources, and tsx's loader (a
 * development dependency, never in the image) is registered first.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const ROLES = JSON.parse(readFileSync(new URL('./roles.json', import.meta.url), 'utf8'));
const [command, ...rest] = process.argv.slice(2);

if (!command) {
  process.stderr.write(`usage: entrypoint.mjs <${Object.keys(ROLES).join('|')}> | <switchyard command>\n`);
  process.exit(64);
}

let main;
if (Object.hasOwn(ROLES, command)) {
  try {
    main = import.meta.resolve(ROLES[command]);
  } catch {
    process.stderr.write(`role ${command} needs ${ROLES[command]}, which this image does not install\n`);
    process.exit(64);
  }
} else {
  const manifest = createRequire(import.meta.url).resolve('switchyard/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  main = new URL(`file://${join(dirname(manifest), bin.switchyard)}`).href;
  process.argv = [process.argv[0], main, command, ...rest];
}
if (main.endsWith('.ts')) (await import('tsx/esm/api')).register();
await import(main);
