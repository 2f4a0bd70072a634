import { toError } from '@switchyard/core';
import {
  configureBreaker,
  configureServiceLimits,
  type DispatchCursor,
  expireLeases,
  finalizeSettledTasks,
  findDispatchCandidates,
  findUnservedSteps,
  type Pool,
  pruneFinishedTasks,
  type SettledTaskCursor,
  stillAwaitingDispatch,
  withTransaction,
} from '@switchyard/db';
import { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';
import { sweepBreakers } from './breaker-sweep.ts';
import { LeaderElection } from './leader-election.ts';
import { adaptLimits } from './limit-adaptation.ts';
import { sweepLimits } from './limit-sweep.ts';
import { ScheduleTicker } from './schedule-ticker.ts';
import {
  type CompiledSchedulerOptions,
  compileSchedulerOptions,
  type SchedulerOptions,
} from './scheduler-options.ts';

export type { SchedulerOptions } from './scheduler-options.ts';

// Workers beat every 10 s by default; three missed beats mean the worker is gone.
const WORKER_LIVENESS_MS = 30_000;
const UNSERVED_CHECK_MS = 30_000;

export type RepairKind = 'lease_expired' | 'job_missing' | 'task_finalized';
export type SweepCounts = Record<
  RepairKind | 'breaker_transitions' | 'held_released' | 'limit_changes' | 'tasks_pruned',
  number
>;

export type RunningScheduler = {
  readonly schedulerId: string;
  isLeader(): boolean;
  /** Repairs, breaker transitions and held-step releases made by this replica since start. */
  repairs(): Readonly<SweepCounts>;
  /** Steps found waiting for a handler that no live worker serves, at the last check. */
  unservedSteps(): number;
  /** Runs one sweep now (as leader or not); for tests and operators. */
  sweep(): Promise<SweepCounts>;
  /** Fires the due ticks of every due schedule now; for tests and operators. */
  tickSchedules(): Promise<number>;
  stop(): Promise<void>;
};

/**
 * The scheduler reconciles Postgres (the truth) with the queues: it takes back expired leases,
 * re-dispatches steps whose jobs are missing from Redis, and finalizes settled tasks.
 *
 * High availability: every replica runs the loop, but only the holder of a Postgres advisory
 * lock sweeps (leadership moves within one interval when the leader's session ends). The
 * repairs are fenced row updates under FOR UPDATE SKIP LOCKED and job ids are deterministic,
 * so even two replicas that both believe they lead cannot repair or finalize anything twice.
 * @throws ConfigError for bad options, before anything is written or connected.
 */
export async function startScheduler(options: SchedulerOptions): Promise<RunningScheduler> {
  const compiled = compileSchedulerOptions(options);
  for (const [system, policy] of Object.entries(compiled.breakerPolicies)) {
    await configureBreaker(compiled.pool, system, policy);
  }
  await withTransaction(compiled.pool, (client) =>
    configureServiceLimits(client, compiled.serviceLimits, compiled.schedulerId),
  );
  const scheduler = new Scheduler(compiled);
  scheduler.start();
  return scheduler;
}

/** Says whether a periodic chore is due, and when due, counts the period from now. */
class Every {
  readonly #periodMs: number;
  #lastAt = 0;

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  claim(): boolean {
    if (Date.now() - this.#lastAt < this.#periodMs) return false;
    this.#lastAt = Date.now();
    return true;
  }
}

/**
 * One replica's loop. Ticks are chained one after another, so a sweep slower than the interval
 * delays the next one instead of overlapping it; stop() waits for the tick in progress.
 */
class Scheduler implements RunningScheduler {
  readonly schedulerId: string;
  readonly #options: CompiledSchedulerOptions;
  readonly #log: Logger;
  readonly #dispatcher: StepDispatcher;
  readonly #election: LeaderElection;
  readonly #schedules: ScheduleTicker;
  readonly #sweepConfig: SweepConfig;
  readonly #totals: SweepCounts = noCounts();
  readonly #pruneDue: Every | null;
  readonly #unservedCheckDue = new Every(UNSERVED_CHECK_MS);
  #unserved = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #tickInProgress: Promise<void> = Promise.resolve();

  constructor(options: CompiledSchedulerOptions) {
    this.#options = options;
    this.schedulerId = options.schedulerId;
    this.#log = options.logger.child({ component: 'scheduler', scheduler_id: options.schedulerId });
    this.#dispatcher = new StepDispatcher({
      connection: options.redis,
      prefix: options.queuePrefix,
      namespaceWeights: options.namespaceWeights,
    });
    this.#election = new LeaderElection(options.databaseUrl, this.#log);
    this.#pruneDue = options.retention ? new Every(options.retention.intervalMs) : null;
    this.#schedules = new ScheduleTicker({
      pool: options.pool,
      dispatcher: this.#dispatcher,
      redis: options.redis,
      queuePrefix: options.queuePrefix,
      log: this.#log.child({ component: 'schedules' }),
      actor: options.schedulerId,
      pollMs: options.schedulePollMs,
      graceMs: options.scheduleGraceMs,
      batchSize: options.batchSize,
    });
    this.#sweepConfig = {
      pool: options.pool,
      dispatcher: this.#dispatcher,
      log: this.#log,
      actor: options.schedulerId,
      graceMs: options.dispatchGraceMs,
      batchSize: options.batchSize,
      missingJobChecksPerSweep: options.missingJobChecksPerSweep,
      limitAdaptMs: options.limitAdaptMs,
      missingJobCursor: { after: null },
      settledTaskCursor: { after: null },
    };
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#tickInProgress = this.#tickInProgress.then(() => this.#tick());
    }, this.#options.intervalMs);
    this.#schedules.start();
    this.#log.info('scheduler started');
  }

  isLeader(): boolean {
    return this.#election.isLeader;
  }

  repairs(): Readonly<SweepCounts> {
    return { ...this.#totals };
  }

  unservedSteps(): number {
    return this.#unserved;
  }

  async sweep(): Promise<SweepCounts> {
    const made = { ...(await sweep(this.#sweepConfig)), tasks_pruned: await this.#prune() };
    for (const kind of Object.keys(made) as (keyof SweepCounts)[]) this.#totals[kind] += made[kind];
    return made;
  }

  async tickSchedules(): Promise<number> {
    return (await this.#schedules.tickNow()).length;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#schedules.stop();
    await this.#tickInProgress;
    await this.#election.close();
    await this.#dispatcher.close();
    this.#log.info('scheduler stopped');
  }

  /** One interval's work: only the leader sweeps; a failure is logged and the next interval tries again. */
  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (await this.#election.holdOrAcquire()) {
        await this.sweep();
        await this.#checkUnserved();
      }
    } catch (err) {
      this.#log.error({ err: toError(err) }, 'sweep failed; retrying next interval');
    }
  }

  async #prune(): Promise<number> {
    const retention = this.#options.retention;
    if (!retention || !this.#pruneDue?.claim()) return 0;
    const pruned = await pruneFinishedTasks(this.#options.pool, retention);
    if (pruned.deletedTasks > 0) this.#log.info(pruned, 'pruned finished tasks');
    return pruned.deletedTasks;
  }

  async #checkUnserved(): Promise<void> {
    if (!this.#unservedCheckDue.claim()) return;
    const steps = await findUnservedSteps(this.#options.pool, WORKER_LIVENESS_MS);
    this.#unserved = steps.length;
    if (steps.length === 0) return;
    const handlers = [...new Set(steps.map((step) => step.handler))];
    this.#log.warn(
      { count: steps.length, handlers },
      'steps are waiting for handlers that no live worker serves',
    );
  }
}

function noCounts(): SweepCounts {
  return {
    lease_expired: 0,
    job_missing: 0,
    task_finalized: 0,
    breaker_transitions: 0,
    held_released: 0,
    limit_changes: 0,
    tasks_pruned: 0,
  };
}

type SweepConfig = {
  pool: Pool;
  dispatcher: StepDispatcher;
  log: Logger;
  actor: string;
  graceMs: number;
  batchSize: number;
  missingJobChecksPerSweep: number;
  /** How often each adaptive limit is judged (ms). */
  limitAdaptMs: number;
  /** Where the missing-job scan resumes next sweep (null: from the oldest candidate). */
  missingJobCursor: { after: DispatchCursor | null };
  /**
   * Where the settled-task scan resumes next sweep. In memory: only the leader sweeps, and a new
   * leader starting from the first running task only repeats part of a pass.
   */
  settledTaskCursor: SettledTaskCursor;
};

async function sweep(config: SweepConfig): Promise<Omit<SweepCounts, 'tasks_pruned'>> {
  const lease_expired = await repairExpiredLeases(config);
  const breakers = await sweepBreakers(config);
  const adapted = await adaptLimits({ ...config, everyMs: config.limitAdaptMs });
  // After the leases: a dead worker's slot, given back by its lease, is released in this sweep.
  const limits = await sweepLimits(config);
  return {
    lease_expired,
    job_missing: await repairMissingJobs(config),
    task_finalized: await finalizeSettled(config),
    breaker_transitions: breakers.transitions.length,
    held_released: breakers.released + limits.released,
    limit_changes: adapted.length,
  };
}

async function repairExpiredLeases({
  pool,
  dispatcher,
  log,
  actor,
  batchSize,
}: SweepConfig): Promise<number> {
  const { released, finalized } = await withTransaction(pool, (client) =>
    expireLeases(client, { limit: batchSize, actor }),
  );
  if (released.length === 0) return 0;
  await dispatcher.dispatch(released.filter((step) => step.status === 'enqueued'));
  for (const step of released) {
    log.warn(
      {
        repair: 'lease_expired',
        task_id: step.taskId,
        step_id: step.stepId,
        lost_worker: step.workerId,
        now: step.status,
      },
      'took back an expired lease',
    );
  }
  for (const task of finalized) log.info({ task_id: task.taskId, task_status: task.to }, `task ${task.to}`);
  return released.length;
}

/**
 * Re-dispatches the steps whose jobs are gone from Redis (flushed, evicted, never added).
 *
 * Inputs: the candidates Postgres expects to have a job (enqueued longer than the grace, or a
 * retry overdue by it; findDispatchCandidates), oldest due first, at most
 * `missingJobChecksPerSweep` per sweep in pages of `batchSize`, resuming where the previous
 * sweep stopped and starting again from the oldest once a scan reaches the newest.
 * Per page: one SELECT, one pipelined EXISTS per job id (`findMissing`), and, only when some
 * are missing, a second SELECT (stillAwaitingDispatch) that drops steps a worker took and
 * finished between the two reads; then the rest are added under their deterministic job ids.
 * Locks: none; an add for a job id that exists is a no-op, and the claim's fence drops a
 * delivery of an attempt already made, so two schedulers sweeping at once re-dispatch nothing
 * twice in effect. Returns how many steps were re-dispatched. Errors: Postgres' and Redis'
 * propagate; the sweep logs them and runs again next interval.
 *
 * Each job id is checked, not the queue's length: new jobs and retries not yet due sit in the
 * queue beside the candidates, so a queue "at least as long as expected" may still lack some,
 * and comparing counts left jobs lost to a FLUSHALL unrepaired for 15–17 s under a steady
 * stream of new tasks (tests/e2e/redis-loss.int.test.ts).
 * Cost, measured on this 2-core machine over a backlog of 3000 candidates whose jobs all exist
 * (packages/engine/test/scheduler.int.test.ts, "[measure]"): a whole sweep took 127 ms with the
 * default 2000 checks and 56 ms with the remaining 1020. Per page of 500, the SELECT takes about 20 ms (Postgres scans and
 * top-N sorts every candidate, 8 ms for 3000: no index serves enqueued_at, so a much larger
 * backlog makes each page slower; an index on (status, enqueued_at) would bound it) and the
 * pipelined EXISTS about 12 ms (one round trip, 500 O(1) lookups in Redis). Rejected: checking
 * only step types whose queue looks short (the counts above), and reading the queues' lists
 * (LRANGE/ZRANGE of every waiting and delayed job: the cost of the queue, not of the candidates).
 */
async function repairMissingJobs(config: SweepConfig): Promise<number> {
  const { pool, dispatcher, log, graceMs, batchSize, missingJobCursor: cursor } = config;
  let repaired = 0;
  let checked = 0;
  while (checked < config.missingJobChecksPerSweep) {
    const limit = Math.min(batchSize, config.missingJobChecksPerSweep - checked);
    const candidates = await findDispatchCandidates(pool, { graceMs, limit, after: cursor.after });
    checked += candidates.length;
    const last = candidates.at(-1);
    cursor.after = candidates.length < limit || !last ? null : { dueAt: last.dueAt, stepId: last.stepId };
    const missing = await stillAwaitingDispatch(pool, await dispatcher.findMissing(candidates));
    if (missing.length > 0) {
      await dispatcher.dispatch(missing);
      const byHandler = [...new Set(missing.map((m) => m.handler))];
      const steps = missing.slice(0, 20).map((m) => m.stepId);
      log.warn(
        { repair: 'job_missing', handlers: byHandler, count: missing.length, steps },
        're-dispatched steps whose jobs were missing',
      );
    }
    repaired += missing.length;
    if (cursor.after === null) break;
  }
  return repaired;
}

/** Examines `batchSize` running tasks per sweep, resuming where the last sweep stopped (finalizeSettledTasks). */
async function finalizeSettled(config: SweepConfig): Promise<number> {
  const { pool, log, actor, batchSize: limit, graceMs, settledTaskCursor: cursor } = config;
  const finalized = await finalizeSettledTasks(pool, { limit, actor, graceMs, cursor });
  for (const task of finalized)
    log.warn(
      { repair: 'task_finalized', task_id: task.taskId, task_status: task.to },
      'finalized a settled task',
    );
  return finalized.length;
}
