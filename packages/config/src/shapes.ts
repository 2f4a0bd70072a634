import { z } from 'zod';
import { envBoolean, envInt, envList, envNamespaceWeights, envOptionalUrl, envUrl } from './env.ts';

/**
 * Settings every Switchyard process shares. Each app's env schema spreads this shape and adds
 * its own variables, so a variable means the same thing in every process.
 */
export const commonEnvShape = {
  /**
   * Postgres connection string, passed to node-postgres as it is: credentials in it, and
   * `?sslmode=require` / `verify-full` (with `sslrootcert=<file>` for a private CA) for TLS.
   */
  DATABASE_URL: envUrl('postgresql://postgres@127.0.0.1:5432/switchyard'),
  /** Connections in this process's Postgres pool. */
  DATABASE_POOL_SIZE: envInt({ min: 1, max: 200, default: 10 }),
  /**
   * Redis connection string, `redis://[user:password@]host:port[/db]`, `rediss://` for TLS.
   * With REDIS_CLUSTER, one node of the cluster (or a managed cluster's configuration endpoint).
   */
  REDIS_URL: envUrl('redis://127.0.0.1:6379'),
  /**
   * `true` when REDIS_URL is a Redis Cluster: the client discovers the other nodes from it.
   * SWITCHYARD_QUEUE_PREFIX must then hold a hash tag, e.g. `{switchyard}`.
   */
  REDIS_CLUSTER: envBoolean(false),
  /**
   * BullMQ key prefix shared by every process of one deployment. On Redis Cluster it must hold
   * a hash tag (`{switchyard}`) so that every key of a queue is in one hash slot.
   */
  SWITCHYARD_QUEUE_PREFIX: z.string().min(1).default('switchyard'),
  /**
   * Weights by which namespaces share each step type's worker slots and each limited system's
   * slots, as JSON (`{"tenant_a":1,"tenant_b":3}`); any namespace not named weighs 1.
   */
  SWITCHYARD_NAMESPACE_WEIGHTS: envNamespaceWeights(),
  /** OTLP/HTTP traces endpoint (e.g. `http://otel-collector:4318/v1/traces`); tracing is off without it. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: envOptionalUrl(),
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/**
 * `true` lets webhooks reach loopback, private and link-local addresses (tests, demos, a
 * receiver inside the deployment's own network). Off by default: a subscriber could otherwise
 * make Switchyard call internal services (server-side request forgery). The API checks it when
 * a webhook is created, the scheduler's delivery loop at every delivery.
 */
const SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS = envBoolean(false);

/** Settings of a worker (besides the common ones) that decide what it runs and how. */
export const workerEnvShape = {
  /** Comma-separated paths of modules exporting step handlers (the team's own code). */
  SWITCHYARD_HANDLER_MODULES: envList().refine((paths) => paths.length > 0, {
    message: 'at least one handler module path is required',
  }),
  /** Comma-separated YAML template files or directories to register at start. */
  SWITCHYARD_TEMPLATE_PATHS: envList(),
  /** Step types (handler names) this worker consumes; empty means every loaded handler. */
  SWITCHYARD_STEP_TYPES: envList(),
  /** Attempts run at once per step type. */
  SWITCHYARD_CONCURRENCY: envInt({ min: 1, max: 1000, default: 10 }),
  /** Lease on a claimed attempt (ms), renewed every third of it while the handler runs. */
  SWITCHYARD_LEASE_MS: envInt({ min: 1000, max: 3_600_000, default: 15_000 }),
  /** Per step type leases overriding SWITCHYARD_LEASE_MS, as `type=ms,type=ms`. */
  SWITCHYARD_LEASE_MS_BY_STEP_TYPE: envList().transform((pairs, ctx) => {
    const leases: Record<string, number> = {};
    for (const pair of pairs) {
      const [type, ms] = pair.split('=');
      const value = Number(ms);
      if (!type || !Number.isInteger(value) || value < 1000) {
        ctx.addIssue({ code: 'custom', message: `"${pair}" must be step_type=milliseconds (≥ 1000)` });
        return z.NEVER;
      }
      leases[type.trim()] = value;
    }
    return leases;
  }),
  /** On SIGTERM, how long running attempts may finish (ms) before they are handed back. */
  SWITCHYARD_SHUTDOWN_GRACE_MS: envInt({ min: 0, max: 3_600_000, default: 20_000 }),
  /**
   * `false` turns the eager claim off: a finished step's children then always go through the
   * queue instead of being claimed and run by the worker that made them ready.
   */
  SWITCHYARD_EAGER_CLAIM: envBoolean(true),
  /**
   * How long a child made ready by this worker waits for a slot of its step type when all are
   * busy (ms), ahead of waiting deliveries, before it goes through the queue; 0: no wait.
   */
  SWITCHYARD_CONTINUATION_WAIT_MS: envInt({ min: 0, max: 60_000, default: 10 }),
  /** Optional fixed worker id (default: hostname-pid-random). */
  SWITCHYARD_WORKER_ID: z.string().min(1).optional(),
};

/** Settings of the scheduler (besides the common ones). */
export const schedulerEnvShape = {
  /** Time between reconciliation sweeps (ms). */
  SWITCHYARD_SCHEDULER_INTERVAL_MS: envInt({ min: 50, max: 60_000, default: 1_000 }),
  /** How long a step may sit enqueued before the scheduler checks its job exists (ms). */
  SWITCHYARD_DISPATCH_GRACE_MS: envInt({ min: 100, max: 600_000, default: 2_000 }),
  /**
   * Breaker policies by dependent system as JSON, e.g. `{"billing_service":{"open_ms":60000}}`;
   * systems not named use the defaults (see BreakerPolicy in @switchyard/core). A system's entry
   * may also set its limit across the fleet: `max_concurrent`, `rate` (calls per second) and
   * `burst`, and `adaptive` (`true` or `{ "min": 2, "max": 16 }`: the limit follows the service's
   * health; see ServiceLimitInput in @switchyard/core); without them it has none.
   */
  SWITCHYARD_BREAKER_POLICIES: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (!text) return {};
      try {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          return parsed as Record<string, Record<string, unknown>>;
        }
      } catch {}
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of policies by dependent system' });
      return z.NEVER;
    }),
  /** Finished (complete or cancelled) tasks older than this are pruned (ms); 0 keeps them for ever. */
  SWITCHYARD_RETENTION_MS: envInt({ min: 0, default: 0 }),
  /** Attempts newer than this stay with their task whatever its age (ms): the breakers read them. */
  SWITCHYARD_RETENTION_BREAKER_WINDOW_MS: envInt({ min: 60_000, default: 86_400_000 }),
  /** How often the scheduler prunes (ms). */
  SWITCHYARD_RETENTION_INTERVAL_MS: envInt({ min: 1_000, default: 60_000 }),
  /** Rows handled per repair query; also the running tasks examined per sweep for settled ones. */
  SWITCHYARD_SCHEDULER_BATCH_SIZE: envInt({ min: 1, max: 10_000, default: 500 }),
  /** Time between polls for due schedules (ms); every scheduler replica polls. */
  SWITCHYARD_SCHEDULE_POLL_MS: envInt({ min: 50, max: 60_000, default: 500 }),
  /** A schedule's tick at most this late (ms) still fires as on time; older ones follow catch_up. */
  SWITCHYARD_SCHEDULE_GRACE_MS: envInt({ min: 0, max: 3_600_000, default: 10_000 }),
  /** How often the leader judges each adaptive limit from its recorded attempts (ms). */
  SWITCHYARD_LIMIT_ADAPT_MS: envInt({ min: 100, max: 600_000, default: 1_000 }),
  /** Webhook deliveries in flight at once in each scheduler process. */
  SWITCHYARD_WEBHOOK_CONCURRENCY: envInt({ min: 1, max: 1000, default: 16 }),
  /** How often the delivery loop looks for new events and due deliveries when idle (ms). */
  SWITCHYARD_WEBHOOK_POLL_MS: envInt({ min: 10, max: 60_000, default: 250 }),
  /**
   * A delivery claim not finished by then is taken back by any replica (ms). At least 15 s: it
   * must outlast the 10 s POST timeout, or a slow receiver's delivery would be claimed twice.
   */
  SWITCHYARD_WEBHOOK_LEASE_MS: envInt({ min: 15_000, max: 3_600_000, default: 60_000 }),
  SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS,
};

/** The common settings as parsed. */
export type CommonEnv = z.output<z.ZodObject<typeof commonEnvShape>>;
/** The worker role's settings as parsed. */
export type WorkerEnvSettings = z.output<z.ZodObject<typeof workerEnvShape>>;
/** The scheduler role's settings as parsed. */
export type SchedulerEnvSettings = z.output<z.ZodObject<typeof schedulerEnvShape>>;

/** Settings of the HTTP API (besides the common ones). */
export const apiEnvShape = {
  /** Address the API listens on. */
  SWITCHYARD_API_HOST: z.string().min(1).default('0.0.0.0'),
  /** Port the API listens on. */
  SWITCHYARD_API_PORT: envInt({ min: 0, max: 65_535, default: 8080 }),
  /** Largest request body accepted (bytes); larger ones get 413. */
  SWITCHYARD_API_BODY_LIMIT: envInt({ min: 1024, max: 64 * 1024 * 1024, default: 1024 * 1024 }),
  /** Local development only: accept requests without an API key (the server warns at start). */
  SWITCHYARD_API_AUTH_DISABLED: envBoolean(false),
  /** Require an API key with the `operate` scope for GET /metrics. */
  SWITCHYARD_METRICS_REQUIRE_KEY: envBoolean(false),
  SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS,
};

/** The API's settings as parsed. */
export type ApiEnvSettings = z.output<z.ZodObject<typeof apiEnvShape>>;
