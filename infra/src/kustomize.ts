/**
 * Renders a kustomization the way `kubectl kustomize` does, for the subset these manifests use:
 * `resources` (files and directories), `namespace`, `images`, `replicas` and inline JSON 6902
 * `patches` with a kind/name target. Anything else is refused rather than silently ignored, so
 * a manifest change that needs real kustomize fails the check instead of rendering wrong.
 * render.test.ts compares the output with `kubectl kustomize` wherever kubectl is installed.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** One Kubernetes object. */
export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
};

type ImageRule = { name: string; newName?: string; newTag?: string };
type Patch = { target: { kind: string; name: string }; patch: string };
type Kustomization = {
  resources?: string[];
  namespace?: string;
  images?: ImageRule[];
  replicas?: { name: string; count: number }[];
  patches?: Patch[];
};

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'replicas', 'patches']);

/** Renders the kustomization in `dir`. @throws Error naming the file for anything unsupported. */
export function renderKustomization(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length) throw new Error(`${file}: unsupported fields ${unsupported.join(', ')}`);
  let objects = (k.resources ?? []).flatMap((resource) => loadResource(resolve(dir, resource)));
  for (const rule of k.images ?? []) objects = objects.map((o) => withImage(o, rule));
  for (const { name, count } of k.replicas ?? []) objects = objects.map((o) => withReplicas(o, name, count));
  for (const patch of k.patches ?? []) objects = applyPatch(objects, patch, file);
  if (k.namespace)
    objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: k.namespace! } }));
  return objects;
}

function loadResource(path: string): Manifest[] {
  if (statSync(path).isDirectory()) return renderKustomization(path);
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0]?.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((o): o is Manifest => o !== null);
}

/** Every container list of a workload: Deployment and Job pod templates. */
function podSpecOf(
  o: Manifest,
): { containers?: { image?: string }[]; initContainers?: { image?: string }[] } | null {
  const spec = o.spec as { template?: { spec?: object } } | undefined;
  return (spec?.template?.spec as ReturnType<typeof podSpecOf>) ?? null;
}

function withImage(o: Manifest, rule: ImageRule): Manifest {
  const pod = podSpecOf(o);
  if (!pod) return o;
  const copy = structuredClone(o);
  const copyPod = podSpecOf(copy)!;
  for (const c of [...(copyPod.containers ?? []), ...(copyPod.initContainers ?? [])]) {
    if (!c.image) continue;
    const [name, tag] = splitImage(c.image);
    if (name !== rule.name) continue;
    const newTag = rule.newTag ?? tag;
    c.image = `${rule.newName ?? name}${newTag ? `:${newTag}` : ''}`;
  }
  return copy;
}

function splitImage(image: string): [string, string | undefined] {
  const slash = image.lastIndexOf('/');
  const colon = image.indexOf(':', slash + 1);
  return colon === -1 ? [image, undefined] : [image.slice(0, colon), image.slice(colon + 1)];
}

function withReplicas(o: Manifest, name: string, count: number): Manifest {
  if (o.metadata.name !== name || !['Deployment', 'StatefulSet', 'ReplicaSet'].includes(o.kind)) return o;
  return { ...o, spec: { ...(o.spec as object), replicas: count } };
}

type Op = { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown };

function applyPatch(objects: Manifest[], { target, patch }: Patch, file: string): Manifest[] {
  const matches = objects.filter((o) => o.kind === target.kind && o.metadata.name === target.name);
  if (matches.length === 0) throw new Error(`${file}: patch target ${target.kind}/${target.name} not found`);
  const ops = parse(patch) as Op[];
  return objects.map((o) => {
    if (!matches.includes(o)) return o;
    const copy = structuredClone(o);
    for (const op of ops) applyOp(copy, op, `${file} ${target.kind}/${target.name}`);
    return copy;
  });
}

/** JSON Patch (RFC 6902) add / replace / remove on one object. */
export function applyOp(root: object, op: Op, where: string): void {
  const keys = op.path
    .split('/')
    .slice(1)
    .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = keys.pop();
  let parent: unknown = root;
  for (const key of keys) {
    parent = (parent as Record<string, unknown> | undefined)?.[key];
    if (typeof parent !== 'object' || parent === null)
      throw new Error(`${where}: path ${op.path} does not exist`);
  }
  if (last === undefined) throw new Error(`${where}: empty patch path`);
  const container = parent as Record<string, unknown> & unknown[];
  const isArray = Array.isArray(container);
  const exists = isArray ? Number(last) < container.length : Object.hasOwn(container, last);
  if (op.op !== 'add' && !exists) throw new Error(`${where}: ${op.op} of missing ${op.path}`);
  if (op.op === 'remove') {
    if (isArray) container.splice(Number(last), 1);
    else delete container[last];
  } else if (isArray && op.op === 'add') {
    container.splice(last === '-' ? container.length : Number(last), 0, op.value);
  } else container[last] = op.value;
}
