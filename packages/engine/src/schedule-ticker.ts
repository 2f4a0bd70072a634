/**
 * The scheduler's schedule ticks. Every scheduler replica polls (not only the leader, so a
 * dead replica costs no tick); each due schedule is handled in its own transaction that locks
 * it FOR UPDATE SKIP LOCKED, creates the tasks of its due ticks, records them and advances
 * next_run_at, then commits. Exactly one task per tick fleet-wide follows from three things:
 * - the lock: two replicas never handle the same schedule at once;
 * - the advance commits with the tasks: a replica killed mid-tick rolls back both, and the next
 *   replica to lock the schedule fires the same ticks;
 * - the task's identity is the schedule and the tick (scheduleTickKey): even a replay of a
 *   committed tick would find its task, not create a second one.
 */
import {
  ConflictError,
  dueTicks,
  NotFoundError,
  type ScheduleClock,
  scheduleClock,
  scheduleTickKey,
  toError,
  ValidationError,
} from '@switchyard/core';
import {
  advanceSchedule,
  cancelTask as cancelTaskRows,
  insertTask,
  lockDueSchedules,
  type Pool,
  recordScheduleTick,
  runningScheduleTasks,
  type ScheduleRow,
  withTransaction,
} from '@switchyard/db';
import { cancellationChannel, type RedisConnection, type StepDispatcher } from '@switchyard/queue';
import { inSpan, trace, context as traceContextApi, traceparentOf } from '@switchyard/tracing';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createSpan, dispatchCreated, prepareTask } from './create-task.ts';

export type ScheduleTickerOptions = {
  pool: Pool;
  dispatcher: StepDispatcher;
  redis: RedisConnection;
  queuePrefix: string;
  log: Logger;
  actor: string;
  /** Time between polls for due schedules (ms). */
  pollMs: number;
  /** A tick at most this late is on time; older ones were missed (the schedule's catch_up decides). */
  graceMs: number;
  /** Most schedules handled per poll. */
  batchSize: number;
};

/** What handling one schedule did, for the log and the caller. */
export type ScheduleTickReport = {
  scheduleId: string;
  created: string[];
  skipped: number;
  failed: number;
  missedNotFired: number;
};

type AfterCommit = {
  report: ScheduleTickReport;
  /** With the template's namespace: the roots are dispatched into it, at the task's priority. */
  created: (Parameters<typeof dispatchCreated>[1] & { namespace: string })[];
  cancelledRunning: string[];
};

/** Polls due schedules every `pollMs` until stopped; a failed poll is logged and retried next time. */
export class ScheduleTicker {
  readonly #options: ScheduleTickerOptions;
  #timer: NodeJS.Timeout | undefined;
  #inProgress: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: ScheduleTickerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#inProgress = this.#inProgress.then(() => this.#poll());
    }, this.#options.pollMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#inProgress;
  }

  /** Handles every due schedule now (up to batchSize); for tests and operators. */
  async tickNow(): Promise<ScheduleTickReport[]> {
    const reports: ScheduleTickReport[] = [];
    for (let handled = 0; handled < this.#options.batchSize && !this.#stopped; handled++) {
      const done = await withTransaction(this.#options.pool, (client) => this.#handleOne(client));
      if (!done) break;
      await this.#afterCommit(done);
      reports.push(done.report);
    }
    return reports;
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.tickNow();
    } catch (err) {
      this.#options.log.error({ err: toError(err) }, 'schedule tick failed; retrying next poll');
    }
  }

  /** Locks one due schedule and fires its due ticks, in the caller's transaction; null when none is due. */
  async #handleOne(client: pg.PoolClient): Promise<AfterCommit | null> {
    const [schedule] = await lockDueSchedules(client, 1);
    if (!schedule?.nextRunAt) return null;
    const { rows } = await client.query('SELECT clock_timestamp() AS now');
    const now = rows[0].now as Date;
    const after: AfterCommit = {
      report: { scheduleId: schedule.id, created: [], skipped: 0, failed: 0, missedNotFired: 0 },
      created: [],
      cancelledRunning: [],
    };
    let clock: ScheduleClock;
    try {
      clock = scheduleClock(schedule);
    } catch (err) {
      // Only if this runtime's time zone data lost the schedule's zone: stop it rather than spin.
      this.#options.log.error(
        { err: toError(err), schedule_id: schedule.id },
        'schedule cannot be read; stopped',
      );
      await advanceSchedule(client, { id: schedule.id, nextRunAt: null, lastTickAt: null, lastTaskId: null });
      return after;
    }
    const due = dueTicks({
      clock,
      from: schedule.nextRunAt,
      now,
      catchUp: schedule.catchUp,
      graceMs: this.#options.graceMs,
    });
    after.report.missedNotFired = due.missedNotFired;
    let lastTaskId: string | null = null;
    for (const tick of due.fire) {
      const taskId = await this.#fire(client, schedule, tick, after);
      lastTaskId = taskId ?? lastTaskId;
    }
    await advanceSchedule(client, {
      id: schedule.id,
      nextRunAt: due.next,
      lastTickAt: due.fire.at(-1) ?? null,
      lastTaskId,
    });
    return after;
  }

  /** One tick: the overlap policy, then the task. Returns the task's id, or null when none was created. */
  async #fire(
    client: pg.PoolClient,
    schedule: ScheduleRow,
    tick: Date,
    after: AfterCommit,
  ): Promise<string | null> {
    const { actor } = this.#options;
    const record = (
      outcome: 'created' | 'skipped_overlap' | 'failed',
      taskId: string | null,
      detail: string | null,
    ) =>
      recordScheduleTick(client, { scheduleId: schedule.id, tickAt: tick, outcome, taskId, detail, actor });
    if (schedule.overlap !== 'allow') {
      const running = await runningScheduleTasks(client, schedule.id);
      if (running.length > 0 && schedule.overlap === 'skip') {
        after.report.skipped++;
        await record('skipped_overlap', null, `task ${running.at(-1)} from this schedule is still running`);
        return null;
      }
      for (const taskId of running) {
        const cancelled = await cancelTaskRows(client, {
          taskId,
          actor,
          reason: `replaced by schedule ${schedule.id}'s tick ${tick.toISOString()} (overlap: cancel_previous)`,
        }).catch((err: unknown) => {
          // It finished between the read and the lock: nothing left to cancel.
          if (err instanceof ConflictError) return null;
          throw err;
        });
        if (cancelled?.steps.some((step) => step.from === 'in_progress')) after.cancelledRunning.push(taskId);
      }
    }
    let prepared: Awaited<ReturnType<typeof prepareTask>>;
    try {
      prepared = await prepareTask(
        this.#options.pool,
        {
          namespace: schedule.namespace,
          name: schedule.name,
          ...(schedule.version ? { version: schedule.version } : {}),
          context: schedule.context,
          idempotencyKey: scheduleTickKey(schedule.id, tick),
          initiator: `schedule:${schedule.id}`,
          sourceSystem: 'switchyard-scheduler',
          reason: `schedule ${schedule.id}, tick ${tick.toISOString()}`,
        },
        actor,
        { schedule: { id: schedule.id, tickAt: tick } },
      );
    } catch (err) {
      // The template was removed or changed under the schedule: the tick is recorded as failed
      // and the schedule moves on, instead of failing every poll.
      if (!(err instanceof ValidationError || err instanceof NotFoundError)) throw err;
      after.report.failed++;
      await record('failed', null, err.message);
      this.#options.log.error({ err, schedule_id: schedule.id, tick }, 'scheduled task could not be created');
      return null;
    }
    const span = createSpan(prepared.template);
    const task = {
      ...prepared.task,
      traceContext: traceparentOf(trace.setSpan(traceContextApi.active(), span)),
    };
    const created = await inSpan(span, () => insertTask(client, task));
    await record(
      'created',
      created.task.id,
      created.duplicate ? 'task existed already (replayed tick)' : null,
    );
    after.report.created.push(created.task.id);
    after.created.push({ ...created, namespace: prepared.template.namespace });
    return created.task.id;
  }

  async #afterCommit(after: AfterCommit): Promise<void> {
    const { dispatcher, redis, queuePrefix, log } = this.#options;
    for (const created of after.created)
      await dispatchCreated({ dispatcher, logger: log }, created, created.namespace);
    for (const taskId of after.cancelledRunning) {
      await redis
        .publish(cancellationChannel(queuePrefix), JSON.stringify({ taskId }))
        .catch((err) => log.warn({ err: toError(err), task_id: taskId }, 'could not announce cancellation'));
    }
    const { report } = after;
    if (report.created.length + report.skipped + report.failed + report.missedNotFired === 0) return;
    log.info(
      {
        schedule_id: report.scheduleId,
        tasks: report.created,
        skipped_overlap: report.skipped,
        failed: report.failed,
        missed_not_fired: report.missedNotFired,
      },
      'schedule ticked',
    );
  }
}
