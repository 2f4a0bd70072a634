import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { applyOp, type Manifest, renderKustomization } from './kustomize.ts';

const dir = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * `kubectl kustomize <overlay>` output, checked in (src/fixtures/kubectl-kustomize): the
 * reference the renderer must reproduce, with no kubectl needed where the tests run.
 */
function kubectlOutput(overlay: string): Manifest[] {
  const text = readFileSync(dir(`./fixtures/kubectl-kustomize/${overlay}.yaml`), 'utf8');
  return parseAllDocuments(text).map((doc) => doc.toJS() as Manifest);
}

const byId = (objects: Manifest[]) =>
  Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o]));

describe('renderKustomization', () => {
  it.each(['dev', 'production', 'production-redis-cluster'])(
    'renders %s exactly as kubectl kustomize did',
    (overlay) => {
      const rendered = renderKustomization(dir(`../k8s/overlays/${overlay}`));
      const expected = kubectlOutput(overlay);
      // The same objects (kubectl orders them by kind; apply does not care), field for field.
      expect(rendered).toHaveLength(expected.length);
      expect(byId(rendered)).toEqual(byId(expected));
    },
  );

  it('is compared with kubectl output that shows each feature the overlays use', () => {
    const find = (objects: Manifest[], kind: string, name: string) =>
      objects.find((o) => o.kind === kind && o.metadata.name === name) as Manifest & {
        spec: {
          replicas?: number;
          maxReplicaCount?: number;
          template: { spec: { containers: { image: string }[] } };
        };
      };
    const dev = kubectlOutput('dev');
    const production = kubectlOutput('production');
    // namespace, images, replicas, and JSON patches, as kubectl applied them.
    expect(new Set(dev.map((o) => o.metadata.namespace))).toEqual(new Set(['switchyard-dev']));
    expect(find(production, 'Deployment', 'switchyard-api').spec.replicas).toBe(3);
    expect(find(dev, 'Deployment', 'switchyard-api').spec.template.spec.containers[0]?.image).toBe(
      'switchyard:dev',
    );
    expect(find(production, 'Deployment', 'switchyard-api').spec.template.spec.containers[0]?.image).toBe(
      'ghcr.io/example/switchyard:0.1.0',
    );
    expect(find(production, 'ScaledObject', 'switchyard-worker-billing').spec.maxReplicaCount).toBe(30);
    expect(find(dev, 'Secret', 'switchyard')).toBeDefined();
  });

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
