/**
 * Prometheus metrics of the whole fleet, read from Postgres and Redis at scrape time, so any
 * API replica reports the same numbers (aggregate replicas with `max`, not `sum`). The reads are
 * @switchyard/db's (fleet-metrics.ts); this file turns them into metrics.
 *
 * Counters and histograms tail the append-only tables (task_transitions, step_attempts,
 * step_transitions, webhook_delivery_attempts) by id from the start of history, in batches, so totals survive restarts
 * and each scrape reads only what is new. A row is read once it is `SETTLE_MS` old: ids are
 * taken at insert and committed later, so a row with a lower id can appear after a higher one;
 * a transaction open longer than that could still be missed (acceptable for metrics).
 * Gauges (queue depth, breaker state, pending webhook deliveries) are read fresh each scrape. Without Redis the scrape still
 * answers (within the Redis timeout): `switchyard_redis_up` is 0 and no queue depth is reported.
 */
import {
  countPendingDeliveries,
  type HistoryRead,
  listServiceLimits,
  listStepTypes,
  type Pool,
  readBreakerStates,
  readDeliveryAttempts,
  readFinishedAttempts,
  readStepClaims,
  readTaskTransitions,
} from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withDeadline } from './dependencies.ts';

const SETTLE_MS = 2_000;
const BATCH = 5_000;
/** Batches per table per scrape: a first scrape of a long history catches up over a few scrapes. */
const MAX_BATCHES = 20;
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

/** One append-only table read forward from the id it reached. */
type Tail = { drain(pool: Pool): Promise<void> };

/** The registry and the scrape-time refresh behind GET /metrics. */
export type FleetMetrics = { registry: Registry; refresh(): Promise<void> };

type MetricsDeps = { pool: Pool; dispatcher: StepDispatcher };

/** Builds the fleet metrics on a registry of their own; Redis gets `redisMs` per scrape. */
export function createFleetMetrics(deps: MetricsDeps, redisMs = 2_000): FleetMetrics {
  const registry = new Registry();
  const m = defineMetrics(registry);
  // Every outcome is reported from the start, so a rate over the first failure is not missing.
  for (const outcome of ['delivered', 'failed', 'dead']) m.deliveries.inc({ outcome }, 0);
  const tails = defineTails(m);
  let running: Promise<void> | null = null;
  const refresh = async () => {
    for (const tail of tails) await tail.drain(deps.pool);
    await refreshGauges(deps, m, redisMs);
  };
  return {
    registry,
    // Concurrent scrapes share one refresh instead of reading the same rows twice.
    refresh: () => {
      running ??= refresh().finally(() => {
        running = null;
      });
      return running;
    },
  };
}

function defineMetrics(registry: Registry) {
  const registers = [registry];
  return {
    created: new Counter({
      name: 'switchyard_tasks_created_total',
      help: 'Tasks created, by template',
      labelNames: ['namespace', 'name', 'version'],
      registers,
    }),
    finished: new Counter({
      name: 'switchyard_tasks_finished_total',
      help: 'Tasks reaching complete, error (blocked by failures) or cancelled, by template',
      labelNames: ['namespace', 'name', 'version', 'status'],
      registers,
    }),
    attempts: new Counter({
      name: 'switchyard_step_attempts_total',
      help: 'Step attempts by outcome and dependent system',
      labelNames: ['dependent_system', 'outcome'],
      registers,
    }),
    duration: new Histogram({
      name: 'switchyard_step_duration_seconds',
      help: 'Duration of step attempts, by step type (handler) and dependent system',
      labelNames: ['handler', 'dependent_system'],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    queueWait: new Histogram({
      name: 'switchyard_step_queue_wait_seconds',
      help: 'Time from a step becoming ready (or due) to its claim, by step type',
      labelNames: ['handler'],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    repairs: new Counter({
      name: 'switchyard_scheduler_repairs_total',
      help: 'Repairs recorded in Postgres: leases taken back from dead or stuck workers',
      labelNames: ['kind'],
      registers,
    }),
    depth: new Gauge({
      name: 'switchyard_queue_depth',
      help: 'Jobs in each step type queue by state: the signal to scale workers per step type',
      labelNames: ['step_type', 'state'],
      registers,
    }),
    redisUp: new Gauge({
      name: 'switchyard_redis_up',
      help: 'Whether this scrape read the queue depths from Redis: 1 yes, 0 Redis did not answer',
      registers,
    }),
    deliveries: new Counter({
      name: 'switchyard_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (to be retried or held by the receiver breaker), dead (the failure that ended the delivery)',
      labelNames: ['outcome'],
      registers,
    }),
    pendingDeliveries: new Gauge({
      name: 'switchyard_webhook_deliveries_pending',
      help: "Webhook deliveries not yet delivered or given up: held (by the receiver's breaker) true or false",
      labelNames: ['held'],
      registers,
    }),
    breaker: new Gauge({
      name: 'switchyard_breaker_state',
      help: 'Circuit breaker state per dependent system: 0 closed, 1 half-open, 2 open',
      labelNames: ['dependent_system'],
      registers,
    }),
    limitInFlight: new Gauge({
      name: 'switchyard_limit_in_flight',
      help: 'Calls in flight (steps running under an unexpired lease) per limited dependent system',
      labelNames: ['system'],
      registers,
    }),
    limitWaiting: new Gauge({
      name: 'switchyard_limit_waiting',
      help: 'Steps held by their system limit (reason concurrency or rate) per limited dependent system',
      labelNames: ['system'],
      registers,
    }),
    limitMaxConcurrent: new Gauge({
      name: 'switchyard_limit_max_concurrent',
      help: 'The concurrency limit in force per dependent system that has one (an adaptive one moves)',
      labelNames: ['system'],
      registers,
    }),
    limitBaselineLatency: new Gauge({
      name: 'switchyard_limit_baseline_latency_ms',
      help: "An adaptive limit's baseline: the service's healthy latency its limiter measures against",
      labelNames: ['system'],
      registers,
    }),
  };
}

type Metrics = ReturnType<typeof defineMetrics>;

/** Reads a table forward from the last id seen, up to `MAX_BATCHES` batches per scrape. */
function tail<Row extends { id: number }>(
  read: (pool: Pool, from: HistoryRead) => Promise<Row[]>,
  apply: (rows: Row[]) => void,
): Tail {
  let lastId = 0;
  return {
    async drain(pool) {
      for (let batch = 0; batch < MAX_BATCHES; batch++) {
        const rows = await read(pool, { afterId: lastId, limit: BATCH, settledMs: SETTLE_MS });
        if (rows.length === 0) return;
        apply(rows);
        lastId = rows.at(-1)!.id;
        if (rows.length < BATCH) return;
      }
    },
  };
}

function defineTails(m: Metrics): Tail[] {
  return [
    tail(readTaskTransitions, (rows) => {
      for (const row of rows) {
        const labels = { namespace: row.namespace, name: row.name, version: row.version };
        if (row.fromStatus === null) m.created.inc(labels);
        else if (['complete', 'error', 'cancelled'].includes(row.toStatus)) {
          m.finished.inc({ ...labels, status: row.toStatus });
        }
      }
    }),
    tail(readFinishedAttempts, (rows) => {
      for (const row of rows) {
        const system = row.dependentSystem;
        m.attempts.inc({ dependent_system: system, outcome: row.outcome });
        m.duration.observe({ handler: row.handler, dependent_system: system }, row.durationMs / 1000);
        // A lease taken back stays counted when the late result was recorded on its attempt.
        if (row.outcome === 'lease_expired' || row.errorClass === 'LeaseExpired')
          m.repairs.inc({ kind: 'lease_expired' });
      }
    }),
    // The claim's wait: from the transition before it (ready, due or released) to the claim.
    tail(readStepClaims, (rows) => {
      for (const row of rows) {
        // A retry's wait starts when it becomes due, not when it failed: only enqueued claims count.
        if (row.fromStatus !== 'enqueued') continue;
        m.queueWait.observe({ handler: row.handler }, Math.max(0, row.waitSeconds));
      }
    }),
    tail(readDeliveryAttempts, (rows) => {
      for (const row of rows) m.deliveries.inc({ outcome: row.outcome });
    }),
  ];
}

async function refreshGauges(deps: MetricsDeps, m: Metrics, redisMs: number): Promise<void> {
  const breakers = await readBreakerStates(deps.pool);
  m.breaker.reset();
  for (const breaker of breakers) {
    m.breaker.set({ dependent_system: breaker.dependentSystem }, BREAKER_STATE[breaker.state]);
  }
  await refreshLimitGauges(deps.pool, m);
  const pending = await countPendingDeliveries(deps.pool);
  m.pendingDeliveries.set({ held: 'true' }, pending.held);
  m.pendingDeliveries.set({ held: 'false' }, pending.waiting);
  // Step types come from the registered templates: a small table, unlike workflow_steps.
  const handlers = await listStepTypes(deps.pool);
  m.depth.reset();
  const depths = await withDeadline(
    Promise.all(handlers.map((handler) => deps.dispatcher.jobCounts(handler))),
    redisMs,
    'Redis',
  ).catch(() => null);
  m.redisUp.set(depths ? 1 : 0);
  handlers.forEach((handler, i) => {
    for (const [state, count] of Object.entries(depths?.[i] ?? {}))
      m.depth.set({ step_type: handler, state }, count);
  });
}

/** One read of service_limits with its usage per scrape: a row per limited system. */
async function refreshLimitGauges(pool: Pool, m: Metrics): Promise<void> {
  const limits = await listServiceLimits(pool);
  m.limitInFlight.reset();
  m.limitWaiting.reset();
  m.limitMaxConcurrent.reset();
  m.limitBaselineLatency.reset();
  for (const limit of limits) {
    const system = { system: limit.dependentSystem };
    m.limitInFlight.set(system, limit.inFlight);
    m.limitWaiting.set(system, limit.waiting.concurrency + limit.waiting.rate);
    if (limit.limit.maxConcurrent !== null) m.limitMaxConcurrent.set(system, limit.limit.maxConcurrent);
    const baseline = limit.adaptive?.baselineLatencyMs;
    if (baseline !== null && baseline !== undefined) m.limitBaselineLatency.set(system, baseline);
  }
}
