/**
 * Validates Kubernetes objects against the Kubernetes API's OpenAPI schemas as compiled into
 * `kubernetes-models` (types, enums, required fields) and KEDA's CRD schemas from
 * `@kubernetes-models/keda`. Those schemas accept unknown fields, as the API server's
 * non-strict validation does; the project rules in k8s-policy.ts catch the mistakes that matter.
 */
import { createRequire } from 'node:module';
import type { Manifest } from './kustomize.ts';

const require = createRequire(import.meta.url);

/** An invalid object: `Deployment/switchyard-api: data/spec/replicas must be integer`. */
export type SchemaProblem = { object: string; message: string };

type Model = { validate(): void };
type ModelClass = new (data: object) => Model;

/** apiVersion → the module folder of its models. */
function modulePathOf(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function modelOf(apiVersion: string, kind: string): ModelClass | null {
  try {
    const module = require(modulePathOf(apiVersion, kind)) as Record<string, ModelClass>;
    return module[kind] ?? null;
  } catch {
    return null;
  }
}

/** Every schema problem of `objects`; an object of an unknown apiVersion/kind is one. */
export function validateAgainstSchemas(objects: readonly Manifest[]): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const o of objects) {
    const object = `${o?.kind}/${o?.metadata?.name}`;
    const Model =
      typeof o?.apiVersion === 'string' && typeof o.kind === 'string' ? modelOf(o.apiVersion, o.kind) : null;
    if (!Model) {
      problems.push({ object, message: `no schema for apiVersion ${o?.apiVersion} kind ${o?.kind}` });
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      problems.push({ object, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return problems;
}
