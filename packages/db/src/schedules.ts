/**
 * Cron schedules: the rows operators manage (create, list, pause, resume, delete) and the
 * statements the scheduler's tick runs inside one transaction per schedule: lock the due
 * schedules (FOR UPDATE SKIP LOCKED, so replicas share them and never fire one tick twice),
 * record each fired tick, advance next_run_at. The tick's task is inserted by insertTask in the
 * same transaction, so a tick either has its task and its advanced schedule, or neither.
 */
import type { ScheduleCatchUp, ScheduleOverlap } from '@switchyard/core';
import type { Queryable } from './pool.ts';

export type ScheduleRow = {
  id: string;
  namespace: string;
  name: string;
  version: string | null;
  cron: string;
  timezone: string;
  context: unknown;
  overlap: ScheduleOverlap;
  catchUp: ScheduleCatchUp;
  paused: boolean;
  nextRunAt: Date | null;
  lastTickAt: Date | null;
  lastTaskId: string | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
};

/** A schedule with its last task's status, as lists show it. */
export type ScheduleView = ScheduleRow & { lastTaskStatus: string | null };

export type NewSchedule = Pick<
  ScheduleRow,
  'namespace' | 'name' | 'version' | 'cron' | 'timezone' | 'context' | 'overlap' | 'catchUp' | 'createdBy'
> & { nextRunAt: Date | null; paused?: boolean };

/** What one fired tick did. */
export type ScheduleTickOutcome = 'created' | 'skipped_overlap' | 'failed';

export type ScheduleTickRow = {
  tickAt: Date;
  outcome: ScheduleTickOutcome;
  taskId: string | null;
  detail: string | null;
  recordedBy: string;
  recordedAt: Date;
};

/** Ticks kept per schedule; older ones are deleted as new ones are recorded. */
export const SCHEDULE_TICKS_KEPT = 200;

const SCHEDULE_COLUMNS = `s.id, s.namespace, s.name, s.version, s.cron, s.timezone, s.context, s.overlap,
  s.catch_up AS "catchUp", s.paused, s.next_run_at AS "nextRunAt", s.last_tick_at AS "lastTickAt",
  s.last_task_id AS "lastTaskId", s.created_by AS "createdBy", s.created_at AS "createdAt",
  s.updated_at AS "updatedAt"`;
const VIEW_SQL = `SELECT ${SCHEDULE_COLUMNS}, t.status AS "lastTaskStatus"
  FROM schedules s LEFT JOIN tasks t ON t.id = s.last_task_id`;

export async function insertSchedule(db: Queryable, input: NewSchedule): Promise<ScheduleView> {
  const { rows } = await db.query(
    `WITH s AS (
       INSERT INTO schedules (namespace, name, version, cron, timezone, context, overlap, catch_up, paused,
                              next_run_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       RETURNING *
     )
     SELECT ${SCHEDULE_COLUMNS}, NULL::text AS "lastTaskStatus" FROM s`,
    [
      input.namespace,
      input.name,
      input.version,
      input.cron,
      input.timezone,
      JSON.stringify(input.context),
      input.overlap,
      input.catchUp,
      input.paused ?? false,
      input.nextRunAt,
      input.createdBy,
    ],
  );
  return rows[0] as ScheduleView;
}

/** Every schedule (optionally only some namespaces), newest first. */
export async function listSchedules(
  db: Queryable,
  filter: { namespaces?: readonly string[] | null } = {},
): Promise<ScheduleView[]> {
  const { rows } = await db.query(
    `${VIEW_SQL} WHERE ($1::text[] IS NULL OR s.namespace = ANY($1)) ORDER BY s.created_at DESC, s.id`,
    [filter.namespaces ?? null],
  );
  return rows as ScheduleView[];
}

export async function getSchedule(db: Queryable, id: string): Promise<ScheduleView | null> {
  const { rows } = await db.query(`${VIEW_SQL} WHERE s.id = $1`, [id]);
  return (rows[0] as ScheduleView | undefined) ?? null;
}

/** The latest recorded ticks of a schedule, newest first. */
export async function listScheduleTicks(
  db: Queryable,
  scheduleId: string,
  limit = 50,
): Promise<ScheduleTickRow[]> {
  const { rows } = await db.query(
    `SELECT tick_at AS "tickAt", outcome, task_id AS "taskId", detail, recorded_by AS "recordedBy",
            recorded_at AS "recordedAt"
       FROM schedule_ticks WHERE schedule_id = $1 ORDER BY tick_at DESC LIMIT $2`,
    [scheduleId, limit],
  );
  return rows as ScheduleTickRow[];
}

/**
 * Pauses or resumes a schedule. Resuming sets next_run_at to `nextRunAt` (the first tick after
 * now): ticks that fell while it was paused never fire. Returns false for an unknown schedule.
 */
export async function setSchedulePaused(
  db: Queryable,
  input: { id: string; paused: boolean; nextRunAt?: Date | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE schedules
        SET paused = $2, next_run_at = CASE WHEN $2 THEN next_run_at ELSE $3 END, updated_at = clock_timestamp()
      WHERE id = $1`,
    [input.id, input.paused, input.nextRunAt ?? null],
  );
  return rowCount === 1;
}

/** Deletes a schedule and its tick records; the tasks it created stay. Returns false for an unknown one. */
export async function deleteSchedule(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM schedules WHERE id = $1', [id]);
  return rowCount === 1;
}

/**
 * Locks up to `limit` schedules that are not paused and are due (next_run_at ≤ now), skipping
 * those another scheduler holds: each due schedule is ticked by exactly one transaction, and a
 * scheduler killed mid-tick releases its locks with its connection, its tick rolled back.
 * Locks: the returned schedule rows until the transaction ends. Run inside a transaction.
 */
export async function lockDueSchedules(db: Queryable, limit: number): Promise<ScheduleRow[]> {
  const { rows } = await db.query(
    `SELECT ${SCHEDULE_COLUMNS} FROM schedules s
      WHERE NOT s.paused AND s.next_run_at <= clock_timestamp()
      ORDER BY s.next_run_at
      LIMIT $1
      FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return rows as ScheduleRow[];
}

/** The schedule's tasks that are still running (pending or in_progress), oldest first. */
export async function runningScheduleTasks(db: Queryable, scheduleId: string): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT t.id FROM tasks t WHERE t.schedule_id = $1 AND t.status IN ('pending', 'in_progress')
      ORDER BY t.created_at`,
    [scheduleId],
  );
  return rows.map((row) => row.id as string);
}

/** Records what a tick did; a tick recorded already (a replay) keeps its first record. */
export async function recordScheduleTick(
  db: Queryable,
  input: {
    scheduleId: string;
    tickAt: Date;
    outcome: ScheduleTickOutcome;
    taskId: string | null;
    detail: string | null;
    actor: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO schedule_ticks (schedule_id, tick_at, outcome, task_id, detail, recorded_by)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule_id, tick_at) DO NOTHING`,
    [input.scheduleId, input.tickAt, input.outcome, input.taskId, input.detail, input.actor],
  );
}

/**
 * Moves a locked schedule past the ticks just handled: next_run_at, and the last fired tick and
 * task when one fired. Trims its tick records to the latest {@link SCHEDULE_TICKS_KEPT}.
 */
export async function advanceSchedule(
  db: Queryable,
  input: { id: string; nextRunAt: Date | null; lastTickAt: Date | null; lastTaskId: string | null },
): Promise<void> {
  await db.query(
    `UPDATE schedules
        SET next_run_at = $2, last_tick_at = COALESCE($3, last_tick_at),
            last_task_id = COALESCE($4, last_task_id), updated_at = clock_timestamp()
      WHERE id = $1`,
    [input.id, input.nextRunAt, input.lastTickAt, input.lastTaskId],
  );
  await db.query(
    `DELETE FROM schedule_ticks
      WHERE schedule_id = $1
        AND tick_at < (SELECT tick_at FROM schedule_ticks WHERE schedule_id = $1
                        ORDER BY tick_at DESC OFFSET $2 LIMIT 1)`,
    [input.id, SCHEDULE_TICKS_KEPT - 1],
  );
}
