import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkPolicy } from './k8s-policy.ts';
import { validateAgainstSchemas } from './k8s-schemas.ts';
import { type Manifest, renderKustomization } from './kustomize.ts';

const dir = (path: string) => fileURLToPath(new URL(path, import.meta.url));

describe('Kubernetes overlays', () => {
  it.each([
    ['dev', []],
    ['production', ['switchyard']],
    ['production-redis-cluster', ['switchyard']],
  ])(
    '%s renders, validates against the Kubernetes and KEDA schemas and keeps the rules',
    (overlay, externalSecrets) => {
      const objects = renderKustomization(dir(`../k8s/overlays/${overlay}`));
      const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(kinds).toEqual(
        expect.arrayContaining([
          'Deployment/switchyard-api',
          'Service/switchyard-api',
          'PodDisruptionBudget/switchyard-api',
          'Deployment/switchyard-scheduler',
          'Deployment/switchyard-worker-billing',
          'Deployment/switchyard-worker-default',
          'Job/switchyard-migrate',
          'ConfigMap/switchyard',
          'ScaledObject/switchyard-worker-billing',
          'ScaledObject/switchyard-worker-default',
          'TriggerAuthentication/switchyard-redis',
        ]),
      );
      expect(validateAgainstSchemas(objects)).toEqual([]);
      expect(checkPolicy(objects, { externalSecrets })).toEqual([]);
    },
  );

  it('production pins the image and runs three api and two scheduler replicas', () => {
    const objects = renderKustomization(dir('../k8s/overlays/production'));
    const spec = (name: string) =>
      objects.find((o) => o.metadata.name === name && o.kind === 'Deployment')?.spec as {
        replicas: number;
        template: { spec: { containers: { image: string }[] } };
      };
    expect(spec('switchyard-api').replicas).toBe(3);
    expect(spec('switchyard-scheduler').replicas).toBe(2);
    expect(spec('switchyard-worker-billing').template.spec.containers[0]?.image).toBe(
      'ghcr.io/example/switchyard:0.1.0',
    );
    expect(objects.every((o) => o.metadata.namespace === 'switchyard')).toBe(true);
  });

  it('reports every mistake of a deliberately broken overlay', () => {
    const objects = renderKustomization(dir('fixtures/broken-overlay'));
    expect(validateAgainstSchemas(objects)).toEqual([
      {
        object: 'Deployment/switchyard-api',
        message: expect.stringContaining('data/spec/replicas must be integer'),
      },
    ]);
    expect(checkPolicy(objects, { externalSecrets: ['switchyard'] })).toEqual([
      'Deployment/switchyard-worker-billing: unknown variable SWITCHYARD_SHUTDOWN_GRACE',
      'Deployment/switchyard-worker-billing: terminationGracePeriodSeconds must be ≥ 25 (SWITCHYARD_SHUTDOWN_GRACE_MS 20000 + 5 s)',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.create_user_account:prioritized',
      'ScaledObject/switchyard-worker-default: switchyard:step.create_user_acount:prioritized is no queue of this worker',
    ]);
  });

  it('refuses an object whose kind has no schema and a Secret nobody provides', () => {
    const objects = renderKustomization(dir('../k8s/overlays/production'));
    const bogus = { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } };
    expect(validateAgainstSchemas([...objects, bogus])).toEqual([
      { object: 'Deploymnet/x', message: 'no schema for apiVersion apps/v1 kind Deploymnet' },
    ]);
    expect(checkPolicy(objects)).toContain(
      'Deployment/switchyard-api: Secret switchyard is neither rendered nor declared external',
    );
  });

  it('requires the api probes, resources and a ScaledObject per worker', () => {
    const objects = renderKustomization(dir('../k8s/overlays/dev')).filter((o) => o.kind !== 'ScaledObject');
    const api = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'switchyard-api')!;
    const container = (api.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template
      .spec.containers[0]!;
    delete container.readinessProbe;
    delete container.resources;
    expect(checkPolicy(objects)).toEqual([
      'Deployment/switchyard-api: container api needs cpu/memory requests and a memory limit',
      'Deployment/switchyard-api: readinessProbe must GET /health/ready',
      'Deployment/switchyard-worker-billing: no ScaledObject scales this worker',
      'Deployment/switchyard-worker-default: no ScaledObject scales this worker',
    ]);
  });

  it('on a Redis Cluster requires a hash-tagged prefix and redis-cluster triggers on it', () => {
    const objects = renderKustomization(dir('../k8s/overlays/production-redis-cluster'));
    const configMap = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name === 'switchyard',
    ) as Manifest & {
      data: Record<string, string>;
    };
    expect(configMap.data).toMatchObject({ REDIS_CLUSTER: 'true', SWITCHYARD_QUEUE_PREFIX: '{switchyard}' });
    const billing = objects.find(
      (o) => o.kind === 'ScaledObject' && o.metadata.name === 'switchyard-worker-billing',
    )!;
    const [trigger] = (billing.spec as { triggers: { type: string }[] }).triggers;
    trigger!.type = 'redis';
    configMap.data.SWITCHYARD_QUEUE_PREFIX = 'switchyard';
    expect(checkPolicy(objects, { externalSecrets: ['switchyard'] })).toEqual([
      'Deployment/switchyard-worker-billing: REDIS_CLUSTER with prefix switchyard, which has no hash tag',
      'ScaledObject/switchyard-worker-billing: a redis trigger for a worker on a Redis Cluster',
      'ScaledObject/switchyard-worker-billing: no trigger on switchyard:step.setup_billing_profile:prioritized',
      'Deployment/switchyard-worker-default: REDIS_CLUSTER with prefix switchyard, which has no hash tag',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.create_user_account:prioritized',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.initialize_preferences:prioritized',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.send_welcome_sequence:prioritized',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.choose_plan_features:prioritized',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.provision_sso:prioritized',
      'ScaledObject/switchyard-worker-default: no trigger on switchyard:step.update_user_status:prioritized',
      'ScaledObject/switchyard-worker-default: {switchyard}:step.create_user_account:prioritized is no queue of this worker',
      'ScaledObject/switchyard-worker-default: {switchyard}:step.initialize_preferences:prioritized is no queue of this worker',
      'ScaledObject/switchyard-worker-default: {switchyard}:step.send_welcome_sequence:prioritized is no queue of this worker',
      'ScaledObject/switchyard-worker-default: {switchyard}:step.choose_plan_features:prioritized is no queue of this worker',
      'ScaledObject/switchyard-worker-default: {switchyard}:step.provision_sso:prioritized is no queue of this worker',
      'ScaledObject/switchyard-worker-default: {switchyard}:step.update_user_status:prioritized is no queue of this worker',
    ]);
  });
});
