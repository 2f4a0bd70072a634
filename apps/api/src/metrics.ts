/**
 * Prometheus metrics of the whole fleet, read from Postgres and Redis at scrape time, so any
 * API replica reports the same numbers (aggregate replicas with `max`, not `sum`).
 *
 * Counters and histograms tail the append-only tables (task_transitions, step_attempts,
 * step_transitions) by id from the start of history, in batches, so totals survive restarts
 * and each scrape reads only what is new. A row is read once it is `SETTLE_MS` old: ids are
 * taken at insert and committed later, so a row with a lower id can appear after a higher one;
 * a transaction open longer than that could still be missed (acceptable for metrics).
 * Gauges (queue depth, breaker state) are read fresh each scrape. Without Redis the scrape still
 * answers (within the Redis timeout): `switchyard_redis_up` is 0 and no queue depth is reported.
 */
import type { Pool } from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withDeadline } from './dependencies.ts';

const SETTLE_MS = 2_000;
const BATCH = 5_000;
/** Batches per table per scrape: a first scrape of a long history catches up over a few scrapes. */
const MAX_BATCHES = 20;
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

type Tail = { table: string; sql: string; apply(rows: Record<string, unknown>[]): void; lastId: number };

/** The registry and the scrape-time refresh behind GET /metrics. */
export type FleetMetrics = { registry: Registry; refresh(): Promise<void> };

type MetricsDeps = { pool: Pool; dispatcher: StepDispatcher };

/** Builds the fleet metrics on a registry of their own; Redis gets `redisMs` per scrape. */
export function createFleetMetrics(deps: MetricsDeps, redisMs = 2_000): FleetMetrics {
  const registry = new Registry();
  const m = defineMetrics(registry);
  const tails = defineTails(m);
  let running: Promise<void> | null = null;
  const refresh = async () => {
    for (const tail of tails) await drain(deps.pool, tail);
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
    breaker: new Gauge({
      name: 'switchyard_breaker_state',
      help: 'Circuit breaker state per dependent system: 0 closed, 1 half-open, 2 open',
      labelNames: ['dependent_system'],
      registers,
    }),
  };
}

type Metrics = ReturnType<typeof defineMetrics>;

function defineTails(m: Metrics): Tail[] {
  const settled = (column: string) =>
    `${column} < clock_timestamp() - ${SETTLE_MS} * interval '1 millisecond'`;
  return [
    {
      table: 'task_transitions',
      lastId: 0,
      sql: `SELECT tt.id, tt.from_status, tt.to_status, ns.name AS namespace, nt.name, nt.version
              FROM task_transitions tt JOIN tasks t ON t.id = tt.task_id
              JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id
             WHERE tt.id > $1 AND ${settled('tt.created_at')} ORDER BY tt.id LIMIT $2`,
      apply: (rows) => {
        for (const row of rows) {
          const labels = { namespace: row.namespace, name: row.name, version: row.version } as Record<
            string,
            string
          >;
          if (row.from_status === null) m.created.inc(labels);
          else if (['complete', 'error', 'cancelled'].includes(row.to_status as string)) {
            m.finished.inc({ ...labels, status: row.to_status as string });
          }
        }
      },
    },
    {
      table: 'step_attempts',
      lastId: 0,
      sql: `SELECT a.id, a.outcome, a.dependent_system, a.duration_ms, s.handler
              FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
             WHERE a.id > $1 AND ${settled('a.finished_at')} ORDER BY a.id LIMIT $2`,
      apply: (rows) => {
        for (const row of rows) {
          const system = row.dependent_system as string;
          m.attempts.inc({ dependent_system: system, outcome: row.outcome as string });
          m.duration.observe(
            { handler: row.handler as string, dependent_system: system },
            Number(row.duration_ms) / 1000,
          );
          if (row.outcome === 'lease_expired') m.repairs.inc({ kind: 'lease_expired' });
        }
      },
    },
    {
      table: 'step_transitions',
      lastId: 0,
      // The claim's wait: from the transition before it (ready, due or released) to the claim.
      sql: `SELECT st.id, s.handler, extract(epoch FROM st.created_at - prev.created_at) AS wait_s,
                   st.from_status
              FROM step_transitions st JOIN workflow_steps s ON s.id = st.step_id
              CROSS JOIN LATERAL (SELECT created_at FROM step_transitions p
                                   WHERE p.step_id = st.step_id AND p.id < st.id ORDER BY p.id DESC LIMIT 1) prev
             WHERE st.id > $1 AND st.to_status = 'in_progress' AND ${settled('st.created_at')}
             ORDER BY st.id LIMIT $2`,
      apply: (rows) => {
        for (const row of rows) {
          // A retry's wait starts when it becomes due, not when it failed: only enqueued claims count.
          if (row.from_status !== 'enqueued') continue;
          m.queueWait.observe({ handler: row.handler as string }, Math.max(0, Number(row.wait_s)));
        }
      },
    },
  ];
}

async function drain(pool: Pool, tail: Tail): Promise<void> {
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const { rows } = await pool.query(tail.sql, [tail.lastId, BATCH]);
    if (rows.length === 0) return;
    tail.apply(rows);
    tail.lastId = Number(rows.at(-1)!.id);
    if (rows.length < BATCH) return;
  }
}

async function refreshGauges(deps: MetricsDeps, m: Metrics, redisMs: number): Promise<void> {
  const breakers = await deps.pool.query('SELECT dependent_system, state FROM circuit_breakers');
  m.breaker.reset();
  for (const row of breakers.rows) {
    m.breaker.set(
      { dependent_system: row.dependent_system },
      BREAKER_STATE[row.state as keyof typeof BREAKER_STATE],
    );
  }
  // Step types come from the registered templates: a small table, unlike workflow_steps.
  const types = await deps.pool.query(
    `SELECT DISTINCT step->>'handler' AS handler FROM named_tasks, jsonb_array_elements(definition->'steps') step`,
  );
  m.depth.reset();
  const handlers: string[] = types.rows.map((row) => row.handler);
  const depths = await withDeadline(
    Promise.all(
      handlers.map((handler) =>
        deps.dispatcher.queue(handler).getJobCounts('wait', 'prioritized', 'delayed', 'active'),
      ),
    ),
    redisMs,
    'Redis',
  ).catch(() => null);
  m.redisUp.set(depths ? 1 : 0);
  handlers.forEach((handler, i) => {
    for (const [state, count] of Object.entries(depths?.[i] ?? {}))
      m.depth.set({ step_type: handler, state }, count);
  });
}
