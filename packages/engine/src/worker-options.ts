import { hostname } from 'node:os';
import { ConfigError, type TaskTemplate } from '@switchyard/core';
import type { Pool } from '@switchyard/db';
import type { StepHandler } from '@switchyard/handler-kit';
import type { RedisConnection } from '@switchyard/queue';
import type { Logger } from 'pino';

/**
 * How long, by default, a ready child waits for a slot of its step type on the worker that made
 * it ready before it goes through the queue. The parent's slot goes to the next delivery while
 * its success is recorded (step-runner.ts); without a wait, most children of a busy worker went
 * round through Redis (registration_burst in bench/: 22 Redis commands per step, 8 with the
 * wait). A busy worker's slot frees within one handler's run. The wait stays short so that, with
 * long handlers, an idle worker elsewhere gets the child through the queue soon; the line is as
 * long as the slots (WorkerSlots.acquireWithin), so a wide fan-out sends the rest at once.
 */
export const CONTINUATION_WAIT_MS = 10;

/** What user code passes to {@link startWorker}. */
export type WorkerOptions = {
  /** The handlers this worker can run, by `handler.name`. */
  handlers: readonly StepHandler[];
  /** Templates to register at start (same version with other content is refused). */
  templates?: readonly TaskTemplate[];
  pool: Pool;
  /** Redis or Redis Cluster connection for the queues (BullMQ duplicates it for blocking reads). */
  redis: RedisConnection;
  /** BullMQ key prefix. Default 'switchyard'; on Redis Cluster it needs a hash tag (`{switchyard}`). */
  queuePrefix?: string;
  /** Weights by which namespaces share each step type's queue (SWITCHYARD_NAMESPACE_WEIGHTS); default 1 each. */
  namespaceWeights?: Readonly<Record<string, number>>;
  /** Step types (handler names) to consume. Default: every handler given. */
  stepTypes?: readonly string[];
  /** Attempts run at once per step type. Default 10. */
  concurrency?: number;
  /**
   * Lease on a claimed attempt, renewed every third of it while the handler runs; never
   * shorter than the step's timeout. A dead worker's step runs again once its lease ends.
   * Default 15 000 ms.
   */
  leaseMs?: number;
  /** Lease per step type, overriding `leaseMs` for those types. */
  leaseMsByStepType?: Readonly<Record<string, number>>;
  /** How often the worker records that it is alive and what it serves. Default 10 000 ms. */
  heartbeatMs?: number;
  /** How long stop() lets running attempts finish before handing them back. Default 20 000 ms. */
  shutdownGraceMs?: number;
  /**
   * Eager claim: when a step succeeds, the worker claims the children it made ready whose step
   * type it serves, each in a slot of its type (see continuationWaitMs), and runs them itself
   * instead of sending them round through Redis (fenced by the same claim as a delivery; see
   * eager-claims.ts). Default true.
   */
  eagerClaim?: boolean;
  /**
   * How long a child made ready here waits for a slot of its step type when every slot is busy,
   * ahead of the deliveries waiting for one (at most as many children as slots wait), before it
   * goes through the queue instead. Default 10 ms (see CONTINUATION_WAIT_MS); 0: a child takes a
   * free slot or goes through the queue.
   */
  continuationWaitMs?: number;
  /** Default `<hostname>-<pid>-<random>`. */
  workerId?: string;
  logger: Logger;
};

/** {@link WorkerOptions} with every default applied and every rule checked. */
export type CompiledWorkerOptions = Required<
  Omit<WorkerOptions, 'stepTypes' | 'templates' | 'leaseMsByStepType'>
> & {
  /** The lease for a step type. */
  leaseFor(stepType: string): number;
  stepTypes: readonly string[];
  templates: readonly TaskTemplate[];
  registry: ReadonlyMap<string, StepHandler>;
};

/** Validates and fills in worker options once, at the edge. @throws ConfigError */
export function compileWorkerOptions(options: WorkerOptions): CompiledWorkerOptions {
  const registry = new Map<string, StepHandler>();
  for (const handler of options.handlers) {
    if (registry.has(handler.name)) throw new ConfigError(`handler "${handler.name}" is given twice`);
    registry.set(handler.name, handler);
  }
  const stepTypes = options.stepTypes?.length ? [...options.stepTypes] : [...registry.keys()];
  const unknown = stepTypes.filter((type) => !registry.has(type));
  if (unknown.length > 0) {
    throw new ConfigError(
      `step types without a handler: ${unknown.join(', ')}; handlers: ${[...registry.keys()].join(', ')}`,
    );
  }
  if (stepTypes.length === 0) throw new ConfigError('a worker needs at least one handler');
  const concurrency = options.concurrency ?? 10;
  const leaseMs = options.leaseMs ?? 15_000;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new ConfigError('concurrency must be an integer ≥ 1');
  const continuationWaitMs = options.continuationWaitMs ?? CONTINUATION_WAIT_MS;
  if (!Number.isInteger(continuationWaitMs) || continuationWaitMs < 0)
    throw new ConfigError('continuationWaitMs must be an integer ≥ 0');
  const leases = { ...options.leaseMsByStepType };
  for (const [type, ms] of Object.entries({ default: leaseMs, ...leases })) {
    if (!Number.isInteger(ms) || ms < 1_000)
      throw new ConfigError(`lease for ${type} must be an integer ≥ 1000 ms`);
  }
  return {
    handlers: options.handlers,
    templates: options.templates ?? [],
    pool: options.pool,
    redis: options.redis,
    queuePrefix: options.queuePrefix ?? 'switchyard',
    namespaceWeights: options.namespaceWeights ?? {},
    stepTypes,
    concurrency,
    leaseMs,
    leaseFor: (stepType) => leases[stepType] ?? leaseMs,
    heartbeatMs: options.heartbeatMs ?? 10_000,
    shutdownGraceMs: options.shutdownGraceMs ?? 20_000,
    eagerClaim: options.eagerClaim ?? true,
    continuationWaitMs,
    workerId: options.workerId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    logger: options.logger,
    registry,
  };
}
