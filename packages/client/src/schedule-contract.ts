/**
 * The wire contract of cron schedules: `POST /v1/schedules` and the schedule views. A schedule
 * creates one task of its template per tick of its cron expression, read in its time zone.
 */
import { z } from 'zod';
import { TaskStatusSchema } from './contract.ts';
import { timestamp } from './wire-time.ts';

export const ScheduleOverlapSchema = z
  .enum(['skip', 'allow', 'cancel_previous'])
  .describe(
    "while the schedule's previous task still runs: skip the tick (recorded), allow a second task, or cancel_previous (cancel the running one, then create)",
  );
export const ScheduleCatchUpSchema = z
  .enum(['none', 'latest', 'all'])
  .describe(
    'ticks missed while no scheduler ran (older than the grace, SWITCHYARD_SCHEDULE_GRACE_MS): none fire, the latest fires, or all fire (at most 100 per look)',
  );

/** Body of `POST /v1/schedules`. */
export const CreateScheduleBodySchema = z
  .strictObject({
    namespace: z.string().min(1).max(100),
    name: z.string().min(1).max(100),
    version: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('default: the latest version registered when each tick fires'),
    cron: z
      .string()
      .min(1)
      .max(200)
      .describe('five fields (minute hour day-of-month month day-of-week) or six (seconds first)'),
    timezone: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('IANA time zone the cron expression is read in (default UTC); daylight saving follows it'),
    context: z
      .unknown()
      .describe("every task's context, validated against the template's context_schema now"),
    overlap: ScheduleOverlapSchema.optional().describe('default skip'),
    catchUp: ScheduleCatchUpSchema.optional().describe('default none'),
    paused: z.boolean().optional().describe('create it paused: nothing fires until resumed'),
  })
  .meta({ id: 'CreateScheduleBody' });
export type CreateScheduleBody = z.input<typeof CreateScheduleBodySchema>;

export const ScheduleSchema = z
  .object({
    id: z.uuid(),
    namespace: z.string(),
    name: z.string(),
    version: z.string().nullable(),
    cron: z.string(),
    timezone: z.string(),
    context: z.unknown(),
    overlap: ScheduleOverlapSchema,
    catchUp: ScheduleCatchUpSchema,
    paused: z.boolean(),
    nextRunAt: timestamp.nullable().describe('the next tick to fire (null: the expression fires no more)'),
    lastTickAt: timestamp.nullable(),
    lastTaskId: z.uuid().nullable(),
    lastTaskStatus: TaskStatusSchema.nullable(),
    createdBy: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Schedule' });
export type Schedule = z.output<typeof ScheduleSchema>;

export const ScheduleListSchema = z
  .object({ schedules: z.array(ScheduleSchema) })
  .meta({ id: 'ScheduleList' });

export const ScheduleTickSchema = z
  .object({
    tickAt: timestamp,
    outcome: z.enum(['created', 'skipped_overlap', 'failed']),
    taskId: z.uuid().nullable(),
    detail: z.string().nullable(),
    recordedBy: z.string(),
    recordedAt: timestamp,
  })
  .meta({ id: 'ScheduleTick' });
export type ScheduleTick = z.output<typeof ScheduleTickSchema>;

/** `GET /v1/schedules/{id}`: the schedule and what its latest ticks did, newest first. */
export const ScheduleDetailSchema = ScheduleSchema.extend({ ticks: z.array(ScheduleTickSchema) }).meta({
  id: 'ScheduleDetail',
});
export type ScheduleDetail = z.output<typeof ScheduleDetailSchema>;
