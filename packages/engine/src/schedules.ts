/**
 * Managing cron schedules: create (validated against the cron library and the template, so a
 * schedule that could never create a task is refused with nothing written), pause, resume,
 * delete. The scheduler's ticks are in schedule-ticker.ts.
 */
import {
  checkCronSpec,
  NotFoundError,
  SCHEDULE_CATCH_UP_POLICIES,
  SCHEDULE_OVERLAP_POLICIES,
  scheduleClock,
  ValidationError,
  validateContext,
} from '@switchyard/core';
import {
  deleteSchedule as deleteScheduleRow,
  findTemplate,
  getSchedule,
  insertSchedule,
  type Pool,
  type ScheduleView,
  setSchedulePaused,
} from '@switchyard/db';
import { z } from 'zod';
import { unknownTemplate } from './create-task.ts';

/** A request to create a schedule. */
export const CreateScheduleRequestSchema = z.strictObject({
  namespace: z.string().min(1).max(100),
  name: z.string().min(1).max(100),
  /** Default: the latest version registered when each tick fires. */
  version: z.string().min(1).max(100).optional(),
  /** Five fields (minute first) or six (seconds first). */
  cron: z.string().min(1).max(200),
  /** IANA time zone the cron expression is read in. Default UTC. */
  timezone: z.string().min(1).max(100).default('UTC'),
  context: z.unknown(),
  overlap: z.enum(SCHEDULE_OVERLAP_POLICIES).default('skip'),
  catchUp: z.enum(SCHEDULE_CATCH_UP_POLICIES).default('none'),
  /** Created paused: no tick fires until it is resumed. */
  paused: z.boolean().optional(),
});
export type CreateScheduleRequest = z.input<typeof CreateScheduleRequestSchema>;

/**
 * Creates a schedule after checking everything a tick needs: the cron expression parses and
 * fires again, the time zone exists, the template exists, the context satisfies its
 * context_schema. Its first tick is the first after now.
 * @throws ValidationError naming each bad field (`/cron`, `/timezone`, `/context/...`); NotFoundError for an unknown template
 */
export async function createSchedule(
  pool: Pool,
  input: CreateScheduleRequest,
  actor: string,
  options: { visibleNamespaces?: readonly string[] | null } = {},
): Promise<ScheduleView> {
  const parsed = CreateScheduleRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      'invalid schedule',
      parsed.error.issues.map((issue) => ({
        path: `/${issue.path.join('/')}`,
        rule: issue.code,
        message: issue.message,
      })),
    );
  }
  const request = parsed.data;
  // Every problem of a request at once (cron, time zone, context), so one round of fixes does.
  const issues = checkCronSpec(request);
  const stored = await findTemplate(pool, request);
  if (!stored) {
    if (issues.length > 0) throw new ValidationError('invalid schedule', issues);
    throw await unknownTemplate(pool, request, options.visibleNamespaces ?? null);
  }
  try {
    validateContext(stored.template.context_schema, request.context);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    issues.push(...err.issues.map((issue) => ({ ...issue, path: `/context${issue.path}` })));
  }
  if (issues.length > 0) throw new ValidationError('invalid schedule', issues);
  return insertSchedule(pool, {
    namespace: request.namespace,
    name: request.name,
    version: request.version ?? null,
    cron: request.cron,
    timezone: request.timezone,
    context: request.context ?? null,
    overlap: request.overlap,
    catchUp: request.catchUp,
    paused: request.paused ?? false,
    nextRunAt: scheduleClock(request).nextTick(new Date()),
    createdBy: actor,
  });
}

/** Pauses a schedule: no tick fires until it is resumed. @throws NotFoundError */
export async function pauseSchedule(pool: Pool, id: string): Promise<ScheduleView> {
  if (!(await setSchedulePaused(pool, { id, paused: true }))) throw missing(id);
  return found(pool, id);
}

/** Resumes a schedule from its first tick after now: ticks that fell while paused never fire. @throws NotFoundError */
export async function resumeSchedule(pool: Pool, id: string): Promise<ScheduleView> {
  const schedule = await found(pool, id);
  const nextRunAt = scheduleClock(schedule).nextTick(new Date());
  if (!(await setSchedulePaused(pool, { id, paused: false, nextRunAt }))) throw missing(id);
  return found(pool, id);
}

/** Deletes a schedule; the tasks it created stay. @throws NotFoundError */
export async function deleteSchedule(pool: Pool, id: string): Promise<ScheduleView> {
  const schedule = await found(pool, id);
  if (!(await deleteScheduleRow(pool, id))) throw missing(id);
  return schedule;
}

async function found(pool: Pool, id: string): Promise<ScheduleView> {
  const schedule = await getSchedule(pool, id);
  if (!schedule) throw missing(id);
  return schedule;
}

function missing(id: string): NotFoundError {
  return new NotFoundError(`schedule ${id} does not exist`);
}
