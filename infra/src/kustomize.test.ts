import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { applyOp, type Manifest, renderKustomization } from './kustomize.ts';

const dir = (path: string) => fileURLToPath(new URL(path, import.meta.url));

function kubectlKustomize(path: string): Manifest[] | null {
  try {
    const out = execFileSync('kubectl', ['kustomize', path], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return parseAllDocuments(out).map((doc) => doc.toJS() as Manifest);
  } catch {
    return null;
  }
}

const byId = (objects: Manifest[]) =>
  Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o]));

const hasKubectl = kubectlKustomize(dir('../k8s/overlays/dev')) !== null;

describe('renderKustomization', () => {
  it.skipIf(!hasKubectl).each(['dev', 'production'])(
    'renders %s exactly as kubectl kustomize does',
    (overlay) => {
      const path = dir(`../k8s/overlays/${overlay}`);
      expect(byId(renderKustomization(path))).toEqual(byId(kubectlKustomize(path)!));
    },
  );

  it('refuses kustomize features it does not implement, and patches of missing targets', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kustomize-'));
    writeFileSync(join(tmp, 'kustomization.yaml'), 'configMapGenerator:\n  - name: x\n');
    expect(() => renderKustomization(tmp)).toThrow(/unsupported fields configMapGenerator/);
    writeFileSync(
      join(tmp, 'kustomization.yaml'),
      `resources: [${dir('../k8s/base')}]\npatches:\n  - target: { kind: Deployment, name: nope }\n    patch: "[]"\n`,
    );
    expect(() => renderKustomization(tmp)).toThrow(/patch target Deployment\/nope not found/);
  });

  it('applies JSON patch add, replace and remove, and refuses a path that does not exist', () => {
    const doc = { a: { list: [1, 2] }, b: 1 };
    applyOp(doc, { op: 'add', path: '/a/list/-', value: 3 }, 't');
    applyOp(doc, { op: 'add', path: '/a/list/0', value: 0 }, 't');
    applyOp(doc, { op: 'replace', path: '/b', value: 2 }, 't');
    applyOp(doc, { op: 'remove', path: '/a/list/1' }, 't');
    expect(doc).toEqual({ a: { list: [0, 2, 3] }, b: 2 });
    expect(() => applyOp(doc, { op: 'replace', path: '/c', value: 1 }, 't')).toThrow(
      /replace of missing \/c/,
    );
    expect(() => applyOp(doc, { op: 'add', path: '/x/y', value: 1 }, 't')).toThrow(/does not exist/);
  });
});
