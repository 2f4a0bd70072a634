import { hostname } from 'node:os';
import { type BreakerPolicyInput, resolveBreakerPolicy, toError } from '@switchyard/core';
import {
  configureBreaker,
  type DispatchCursor,
  expireLeases,
  finalizeSettledTasks,
  findDispatchCandidates,
  findUnservedSteps,
  type Pool,
  pruneFinishedTasks,
  type RetentionOptions,
  stillAwaitingDispatch,
  withTransaction,
} from '@switchyard/db';
import { type RedisConnection, StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';
import { sweepBreakers } from './breaker-sweep.ts';
import { LeaderElection } from './leader-election.ts';

export type SchedulerOptions = {
  pool: Pool;
  /** Connection string for the leader's own session (the advisory lock lives on it). */
  databaseUrl: string;
  redis: RedisConnection;
  queuePrefix?: string;
  logger: Logger;
  /** Time between sweeps. Default 1000 ms. */
  intervalMs?: number;
  /**
   * How long a step may sit enqueued (or overdue for its retry) before the scheduler checks
   * that its job exists. Dispatch right after commit takes milliseconds; default 2000 ms.
   */
  dispatchGraceMs?: number;
  /** Rows handled per repair query. Default 500. */
  batchSize?: number;
  /**
   * Dispatch candidates checked for a missing job per sweep, oldest first; a larger backlog is
   * checked over several sweeps, each resuming where the last stopped. Default 2000.
   */
  missingJobChecksPerSweep?: number;
  schedulerId?: string;
  /**
   * Prune finished tasks older than `olderThanMs` every `intervalMs` (leader only), keeping the
   * attempts the breakers still read. Off when omitted.
   */
  retention?: RetentionOptions & { intervalMs: number };
  /** Breaker policies by dependent system (the rest use the defaults), written to Postgres at start. */
  breakerPolicies?: Readonly<Record<string, BreakerPolicyInput>>;
};

// Workers beat every 10 s by default; three missed beats mean the worker is gone.
const WORKER_LIVENESS_MS = 30_000;
const UNSERVED_CHECK_MS = 30_000;

export type RepairKind = 'lease_expired' | 'job_missing' | 'task_finalized';
export type SweepCounts = Record<
  RepairKind | 'breaker_transitions' | 'held_released' | 'tasks_pruned',
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
 */
export async function startScheduler(options: SchedulerOptions): Promise<RunningScheduler> {
  const schedulerId = options.schedulerId ?? `scheduler-${hostname()}-${process.pid}`;
  const log = options.logger.child({ component: 'scheduler', scheduler_id: schedulerId });
  const dispatcher = new StepDispatcher({
    connection: options.redis,
    ...(options.queuePrefix ? { prefix: options.queuePrefix } : {}),
  });
  const config = {
    pool: options.pool,
    dispatcher,
    log,
    actor: schedulerId,
    graceMs: options.dispatchGraceMs ?? 2_000,
    batchSize: options.batchSize ?? 500,
    missingJobChecksPerSweep: options.missingJobChecksPerSweep ?? 2_000,
    missingJobCursor: { after: null },
  };
  const totals: SweepCounts = {
    lease_expired: 0,
    job_missing: 0,
    task_finalized: 0,
    breaker_transitions: 0,
    held_released: 0,
    tasks_pruned: 0,
  };
  for (const [system, policy] of Object.entries(options.breakerPolicies ?? {})) {
    await configureBreaker(options.pool, system, resolveBreakerPolicy(policy));
  }
  const election = new LeaderElection(options.databaseUrl, log);
  let lastPruneAt = 0;
  const prune = async () => {
    const retention = options.retention;
    if (!retention || Date.now() - lastPruneAt < retention.intervalMs) return 0;
    lastPruneAt = Date.now();
    const pruned = await pruneFinishedTasks(options.pool, retention);
    if (pruned.deletedTasks > 0) log.info(pruned, 'pruned finished tasks');
    return pruned.deletedTasks;
  };
  const runSweep = async () => {
    const made = { ...(await sweep(config)), tasks_pruned: await prune() };
    for (const kind of Object.keys(made) as (keyof SweepCounts)[]) totals[kind] += made[kind];
    return made;
  };
  let unserved = 0;
  let lastUnservedCheck = 0;
  const checkUnserved = async () => {
    if (Date.now() - lastUnservedCheck < UNSERVED_CHECK_MS) return;
    lastUnservedCheck = Date.now();
    const steps = await findUnservedSteps(options.pool, WORKER_LIVENESS_MS);
    unserved = steps.length;
    if (steps.length > 0) {
      const handlers = [...new Set(steps.map((step) => step.handler))];
      log.warn(
        { count: steps.length, handlers },
        'steps are waiting for handlers that no live worker serves',
      );
    }
  };
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  const tick = async () => {
    if (stopped) return;
    try {
      if (await election.holdOrAcquire()) {
        await runSweep();
        await checkUnserved();
      }
    } catch (err) {
      log.error({ err: toError(err) }, 'sweep failed; retrying next interval');
    }
  };
  const timer = setInterval(() => {
    current = current.then(tick);
  }, options.intervalMs ?? 1_000);
  log.info('scheduler started');
  return {
    schedulerId,
    isLeader: () => election.isLeader,
    repairs: () => ({ ...totals }),
    unservedSteps: () => unserved,
    sweep: runSweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
      await election.close();
      await dispatcher.close();
      log.info('scheduler stopped');
    },
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
  /** Where the missing-job scan resumes next sweep (null: from the oldest candidate). */
  missingJobCursor: { after: DispatchCursor | null };
};

async function sweep(config: SweepConfig): Promise<Omit<SweepCounts, 'tasks_pruned'>> {
  const lease_expired = await repairExpiredLeases(config);
  const breakers = await sweepBreakers(config);
  return {
    lease_expired,
    job_missing: await repairMissingJobs(config),
    task_finalized: await finalizeSettled(config),
    breaker_transitions: breakers.transitions.length,
    held_released: breakers.released,
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

async function finalizeSettled({ pool, log, actor, batchSize, graceMs }: SweepConfig): Promise<number> {
  const finalized = await finalizeSettledTasks(pool, { limit: batchSize, actor, graceMs });
  for (const task of finalized)
    log.warn(
      { repair: 'task_finalized', task_id: task.taskId, task_status: task.to },
      'finalized a settled task',
    );
  return finalized.length;
}
