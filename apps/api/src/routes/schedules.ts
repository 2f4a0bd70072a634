import {
  CreateScheduleBodySchema,
  ScheduleDetailSchema,
  ScheduleListSchema,
  ScheduleSchema,
} from '@switchyard/client';
import { NotFoundError } from '@switchyard/core';
import { getSchedule, listSchedules, listScheduleTicks, type ScheduleView } from '@switchyard/db';
import { createSchedule, deleteSchedule, pauseSchedule, resumeSchedule } from '@switchyard/engine';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertNamespace, mayTouch, type Principal } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { redactSecrets } from '../redact.ts';
import { wire } from '../wire.ts';

const ScheduleParams = z.strictObject({ id: z.uuid() });

const SEMANTICS =
  'Each tick of the cron expression (read in `timezone`, daylight saving included) creates one task of the template, fleet-wide: schedulers lock a due schedule FOR UPDATE SKIP LOCKED and advance it in the transaction that creates the task, whose identity is derived from the schedule and the tick. The task carries `scheduleId` and `scheduleTickAt`.';

/** A schedule the caller may see (its template namespace), or NotFoundError, like a task. */
async function visibleSchedule(deps: ApiDeps, principal: Principal, id: string): Promise<ScheduleView> {
  const schedule = await getSchedule(deps.pool, id);
  if (!schedule || !mayTouch(principal, schedule.namespace))
    throw new NotFoundError(`schedule ${id} does not exist`);
  return schedule;
}

/** A schedule as responses show it: secrets in its context redacted. */
function shown(schedule: ScheduleView) {
  return { ...schedule, context: redactSecrets(schedule.context) };
}

/** Schedule routes: create, list, read (with its latest ticks), pause, resume, delete. */
export function scheduleRoutes(deps: ApiDeps) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.post(
      '/v1/schedules',
      {
        config: { scope: 'tasks:write' },
        schema: {
          operationId: 'createSchedule',
          tags: ['schedules'],
          summary: 'Create a cron schedule that starts a task of a template at every tick',
          description: `${SEMANTICS} 400 names the field: a cron expression that does not parse or never fires (\`/cron\`), an unknown time zone (\`/timezone\`), a context the template's context_schema refuses (\`/context/...\`); 404 for an unknown template. Nothing is created then.`,
          body: CreateScheduleBodySchema,
          response: { 201: ScheduleSchema, ...problems(400, 401, 403, 404, 413, 415, 503) },
        },
      },
      async (request, reply) => {
        assertNamespace(request.principal, request.body.namespace);
        const schedule = await createSchedule(deps.pool, request.body, request.principal.actor, {
          visibleNamespaces: request.principal.namespaces,
        });
        request.log.info({ schedule_id: schedule.id, cron: schedule.cron }, 'schedule created');
        reply.code(201).header('location', `/v1/schedules/${schedule.id}`);
        return wire(ScheduleSchema, shown(schedule));
      },
    );
    app.get(
      '/v1/schedules',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'listSchedules',
          tags: ['schedules'],
          summary: 'Every schedule, newest first, with its next run and its last task',
          response: { 200: ScheduleListSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const schedules = await listSchedules(deps.pool, { namespaces: request.principal.namespaces });
        return wire(ScheduleListSchema, { schedules: schedules.map(shown) });
      },
    );
    app.get(
      '/v1/schedules/:id',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'getSchedule',
          tags: ['schedules'],
          summary: 'One schedule with what its latest ticks did (created, skipped_overlap, failed)',
          params: ScheduleParams,
          response: { 200: ScheduleDetailSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const schedule = await visibleSchedule(deps, request.principal, request.params.id);
        const ticks = await listScheduleTicks(deps.pool, schedule.id);
        return wire(ScheduleDetailSchema, { ...shown(schedule), ticks });
      },
    );
    for (const action of ['pause', 'resume'] as const) {
      app.post(
        `/v1/schedules/:id/${action}`,
        {
          config: { scope: 'tasks:write' },
          schema: {
            operationId: `${action}Schedule`,
            tags: ['schedules'],
            summary:
              action === 'pause'
                ? 'Pause a schedule: no tick fires until it is resumed'
                : 'Resume a schedule from its first tick after now (ticks that fell while paused never fire)',
            params: ScheduleParams,
            response: { 200: ScheduleSchema, ...problems(400, 401, 403, 404, 503) },
          },
        },
        async (request) => {
          const { id } = request.params;
          await visibleSchedule(deps, request.principal, id);
          const schedule =
            action === 'pause' ? await pauseSchedule(deps.pool, id) : await resumeSchedule(deps.pool, id);
          request.log.info({ schedule_id: id }, `schedule ${action}d`);
          return wire(ScheduleSchema, shown(schedule));
        },
      );
    }
    app.delete(
      '/v1/schedules/:id',
      {
        config: { scope: 'tasks:write' },
        schema: {
          operationId: 'deleteSchedule',
          tags: ['schedules'],
          summary: 'Delete a schedule; the tasks it created stay',
          params: ScheduleParams,
          response: { 200: ScheduleSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        await visibleSchedule(deps, request.principal, id);
        const deleted = await deleteSchedule(deps.pool, id);
        request.log.info({ schedule_id: id }, 'schedule deleted');
        return wire(ScheduleSchema, shown(deleted));
      },
    );
  };
}
