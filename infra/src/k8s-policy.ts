/**
 * Switchyard's own rules for its Kubernetes objects, beyond what the API schemas check: the
 * things that, when wrong, lose work or never scale (a grace period shorter than the worker's
 * drain, a ScaledObject watching a queue nobody consumes, a misspelt env variable that silently
 * falls back to its default).
 */
import {
  apiEnvShape,
  commonEnvShape,
  prefixHasHashTag,
  schedulerEnvShape,
  workerEnvShape,
} from '@switchyard/config';
import { readyJobsKey } from '@switchyard/queue';
import type { Manifest } from './kustomize.ts';

/** Variables the processes read (from @switchyard/config) plus the example handlers' URLs. */
export const KNOWN_ENV = new Set([
  ...Object.keys({ ...commonEnvShape, ...workerEnvShape, ...schedulerEnvShape, ...apiEnvShape }),
  'USER_SERVICE_URL',
  'BILLING_SERVICE_URL',
  'PREFERENCES_SERVICE_URL',
  'NOTIFICATION_SERVICE_URL',
]);

/** Seconds a worker needs beyond SWITCHYARD_SHUTDOWN_GRACE_MS to hand back attempts and exit. */
export const DRAIN_MARGIN_S = 5;

type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string }; configMapKeyRef?: { name: string } };
};
type Probe = { httpGet?: { path?: string } };
type Container = {
  name: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
};
type PodSpec = {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
};
type Workload = Manifest & {
  spec: {
    selector?: { matchLabels?: Record<string, string> };
    template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
  };
};
type Trigger = { type: string; metadata: Record<string, string> };

/** Options: Secrets that live outside the rendered files (created by the platform). */
export type PolicyOptions = { externalSecrets?: readonly string[] };

const isWorkload = (o: Manifest): o is Workload => o.kind === 'Deployment' || o.kind === 'Job';
const component = (o: Manifest) => o.metadata.labels?.['app.kubernetes.io/component'];
const matches = (selector: Record<string, string> = {}, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Every rule broken by `objects`, as `Kind/name: what is wrong`. */
export function checkPolicy(objects: readonly Manifest[], options: PolicyOptions = {}): string[] {
  const problems: string[] = [];
  const configMaps = new Map(
    objects
      .filter((o) => o.kind === 'ConfigMap')
      .map((o) => [o.metadata.name, (o.data ?? {}) as Record<string, string>]),
  );
  const secrets = new Set([
    ...objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name),
    ...(options.externalSecrets ?? []),
  ]);
  const workloads = objects.filter(isWorkload);
  for (const [name, data] of configMaps) {
    for (const key of Object.keys(data))
      if (!KNOWN_ENV.has(key)) problems.push(`ConfigMap/${name}: unknown variable ${key}`);
  }
  for (const w of workloads) problems.push(...checkWorkload(w, configMaps, secrets));
  problems.push(...checkSelectors(objects, workloads));
  problems.push(...checkScaling(objects, workloads, configMaps));
  return problems;
}

function envOf(w: Workload, configMaps: Map<string, Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const c of w.spec.template.spec.containers) {
    for (const from of c.envFrom ?? [])
      Object.assign(env, configMaps.get(from.configMapRef?.name ?? '') ?? {});
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  }
  return env;
}

function checkWorkload(
  w: Workload,
  configMaps: Map<string, Record<string, string>>,
  secrets: Set<string>,
): string[] {
  const id = `${w.kind}/${w.metadata.name}`;
  const pod = w.spec.template.spec;
  const problems: string[] = [];
  if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${id}: pod must set runAsNonRoot: true`);
  for (const c of pod.containers) {
    const { requests = {}, limits = {} } = c.resources ?? {};
    if (!requests.cpu || !requests.memory || !limits.memory)
      problems.push(`${id}: container ${c.name} needs cpu/memory requests and a memory limit`);
    if (c.securityContext?.readOnlyRootFilesystem !== true)
      problems.push(`${id}: container ${c.name} must have a read-only root filesystem`);
    if (c.securityContext?.allowPrivilegeEscalation !== false)
      problems.push(`${id}: container ${c.name} must set allowPrivilegeEscalation: false`);
    for (const e of c.env ?? []) {
      if (!KNOWN_ENV.has(e.name)) problems.push(`${id}: unknown variable ${e.name}`);
      const secret = e.valueFrom?.secretKeyRef?.name;
      if (secret && !secrets.has(secret))
        problems.push(`${id}: Secret ${secret} is neither rendered nor declared external`);
    }
    for (const from of c.envFrom ?? []) {
      const name = from.configMapRef?.name;
      if (name && !configMaps.has(name)) problems.push(`${id}: ConfigMap ${name} is not rendered`);
    }
  }
  const role = component(w);
  if (role === 'api') problems.push(...checkApiProbes(id, pod.containers[0]));
  if (role === 'worker') {
    const graceMs = Number(envOf(w, configMaps).SWITCHYARD_SHUTDOWN_GRACE_MS ?? 20_000);
    const needS = Math.ceil(graceMs / 1000) + DRAIN_MARGIN_S;
    if ((pod.terminationGracePeriodSeconds ?? 30) < needS) {
      problems.push(
        `${id}: terminationGracePeriodSeconds must be ≥ ${needS} (SWITCHYARD_SHUTDOWN_GRACE_MS ${graceMs} + ${DRAIN_MARGIN_S} s)`,
      );
    }
    if (!envOf(w, configMaps).SWITCHYARD_STEP_TYPES)
      problems.push(`${id}: a worker Deployment must name its SWITCHYARD_STEP_TYPES`);
  }
  return problems;
}

function checkApiProbes(id: string, c: Container | undefined): string[] {
  const problems: string[] = [];
  if (c?.livenessProbe?.httpGet?.path !== '/health/live')
    problems.push(`${id}: livenessProbe must GET /health/live`);
  if (c?.readinessProbe?.httpGet?.path !== '/health/ready')
    problems.push(`${id}: readinessProbe must GET /health/ready`);
  return problems;
}

function checkSelectors(objects: readonly Manifest[], workloads: Workload[]): string[] {
  const problems: string[] = [];
  const deployments = workloads.filter((w) => w.kind === 'Deployment');
  for (const d of deployments) {
    if (!matches(d.spec.selector?.matchLabels, d.spec.template.metadata?.labels)) {
      problems.push(`Deployment/${d.metadata.name}: selector does not match its pod labels`);
    }
  }
  for (const o of objects) {
    const spec = o.spec as
      | { selector?: Record<string, string> & { matchLabels?: Record<string, string> } }
      | undefined;
    const selector =
      o.kind === 'Service'
        ? spec?.selector
        : o.kind === 'PodDisruptionBudget'
          ? spec?.selector?.matchLabels
          : null;
    if (selector === null) continue;
    if (!deployments.some((d) => matches(selector, d.spec.template.metadata?.labels))) {
      problems.push(`${o.kind}/${o.metadata.name}: selector matches no Deployment's pods`);
    }
  }
  return problems;
}

function checkScaling(
  objects: readonly Manifest[],
  workloads: Workload[],
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const problems: string[] = [];
  const scaled = objects.filter((o) => o.kind === 'ScaledObject');
  const workers = workloads.filter((w) => w.kind === 'Deployment' && component(w) === 'worker');
  for (const w of workers) {
    const so = scaled.find(
      (s) => (s.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === w.metadata.name,
    );
    if (!so) {
      problems.push(`Deployment/${w.metadata.name}: no ScaledObject scales this worker`);
      continue;
    }
    const env = envOf(w, configMaps);
    const prefix = env.SWITCHYARD_QUEUE_PREFIX ?? 'switchyard';
    const types = (env.SWITCHYARD_STEP_TYPES ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    // A cluster is read with KEDA's redis-cluster trigger, one server with its redis trigger.
    const cluster = ['true', '1', 'yes'].includes((env.REDIS_CLUSTER ?? '').trim().toLowerCase());
    const triggerType = cluster ? 'redis-cluster' : 'redis';
    if (cluster && !prefixHasHashTag(prefix))
      problems.push(
        `Deployment/${w.metadata.name}: REDIS_CLUSTER with prefix ${prefix}, which has no hash tag`,
      );
    const triggers = (so.spec as { triggers: Trigger[] }).triggers ?? [];
    for (const t of triggers.filter((t) => t.type !== triggerType))
      problems.push(
        `ScaledObject/${so.metadata.name}: a ${t.type} trigger for a worker on ${cluster ? 'a Redis Cluster' : 'one Redis server'}`,
      );
    const lists = triggers.filter((t) => t.type === triggerType).map((t) => t.metadata.listName);
    const expected = types.map((t) => readyJobsKey(prefix, t));
    for (const list of expected)
      if (!lists.includes(list)) problems.push(`ScaledObject/${so.metadata.name}: no trigger on ${list}`);
    for (const list of lists)
      if (!expected.includes(list ?? ''))
        problems.push(`ScaledObject/${so.metadata.name}: ${list} is no queue of this worker`);
  }
  for (const s of scaled) {
    const target = (s.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name;
    if (!workers.some((w) => w.metadata.name === target))
      problems.push(`ScaledObject/${s.metadata.name}: target ${target} is not a worker Deployment`);
  }
  return problems;
}
