/** The typed client's schedule calls (see createSwitchyardClient). */
import {
  type CreateScheduleBody,
  type Schedule,
  type ScheduleDetail,
  ScheduleDetailSchema,
  ScheduleListSchema,
  ScheduleSchema,
} from './schedule-contract.ts';
import type { Send } from './transport.ts';

export function scheduleCalls(send: Send) {
  const path = (id: string) => `/v1/schedules/${encodeURIComponent(id)}`;
  return {
    /** Creates a cron schedule; a bad cron, time zone, template or context is refused with nothing created. */
    createSchedule: (body: CreateScheduleBody): Promise<Schedule> =>
      send({ method: 'POST', path: '/v1/schedules', body }, ScheduleSchema, false),
    /** Every schedule the key may see, newest first, with its next run and last task. */
    listSchedules: async (): Promise<Schedule[]> =>
      (await send({ method: 'GET', path: '/v1/schedules' }, ScheduleListSchema, true)).schedules,
    /** One schedule with what its latest ticks did. */
    getSchedule: (id: string): Promise<ScheduleDetail> =>
      send({ method: 'GET', path: path(id) }, ScheduleDetailSchema, true),
    /** Pauses a schedule: no tick fires until it is resumed. */
    pauseSchedule: (id: string): Promise<Schedule> =>
      send({ method: 'POST', path: `${path(id)}/pause`, body: {} }, ScheduleSchema, true),
    /** Resumes a schedule from its next tick after now (ticks that fell while paused never fire). */
    resumeSchedule: (id: string): Promise<Schedule> =>
      send({ method: 'POST', path: `${path(id)}/resume`, body: {} }, ScheduleSchema, true),
    /** Deletes a schedule; the tasks it created stay. */
    deleteSchedule: (id: string): Promise<Schedule> =>
      send({ method: 'DELETE', path: path(id) }, ScheduleSchema, false),
  };
}
