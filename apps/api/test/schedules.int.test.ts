import { createSwitchyardClient, SwitchyardApiError } from '@switchyard/client';
import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const template = apiTemplate({
  identity_strategy: 'unique',
  context_schema: { type: 'object', properties: { region: { type: 'string' } }, required: ['region'] },
  steps: [{ name: 'only', handler: 'api_sched_only' }],
});

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([template]);
  await h.startWorker([defineStepHandler('api_sched_only', () => ({ ok: true }))]);
});
afterAll(() => h.close());

const client = () => createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey, retries: 0 });
const body = {
  namespace: 'shop',
  name: template.name,
  cron: '0 9 * * 1-5',
  timezone: 'Europe/Berlin',
  context: { region: 'eu' },
};

describe('delayed start over HTTP', () => {
  it('POST /v1/tasks with runAt: pending at once with runAt shown, cancellable, its step waiting for it', async () => {
    const runAt = new Date(Date.now() + 60_000).toISOString();
    const { status, body: created } = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name: template.name, context: { region: 'eu' }, runAt },
    });
    expect(status).toBe(201);
    expect(created.task).toMatchObject({ status: 'pending', runAt, scheduleId: null, scheduleTickAt: null });
    expect(created.task.steps[0]).toMatchObject({ status: 'enqueued', nextAttemptAt: runAt, attempts: 0 });
    const cancelled = await h.call('POST', `/v1/tasks/${created.task.id}/cancel`, { body: {} });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
  });

  it('the typed client takes runAt as an option; a runAt over a year ahead is a 400 naming /runAt', async () => {
    const runAt = new Date(Date.now() + 30_000);
    const { task } = await client().createTask(
      { namespace: 'shop', name: template.name, context: { region: 'eu' } },
      { runAt },
    );
    expect(task.runAt).toBe(runAt.toISOString());
    const before = await h.rowCounts();
    const far = new Date(Date.now() + 400 * 86_400_000).toISOString();
    const refused = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name: template.name, context: { region: 'eu' }, runAt: far },
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('more than a year ahead');
    expect(await h.rowCounts()).toEqual(before);
  });
});

describe('schedule routes', () => {
  it('create, list, read with ticks, pause, resume, delete through the typed client', async () => {
    const api = client();
    const created = await api.createSchedule(body);
    expect(created).toMatchObject({
      ...body,
      version: null,
      overlap: 'skip',
      catchUp: 'none',
      paused: false,
      lastTaskId: null,
      lastTaskStatus: null,
    });
    // 09:00 in Berlin is 07:00 or 08:00 UTC, on a weekday.
    expect(created.nextRunAt).toMatch(/T0[78]:00:00\.000Z$/);
    expect((await api.listSchedules()).map((s) => s.id)).toContain(created.id);
    expect(await api.getSchedule(created.id)).toMatchObject({ id: created.id, ticks: [] });
    expect((await api.pauseSchedule(created.id)).paused).toBe(true);
    expect((await api.resumeSchedule(created.id)).paused).toBe(false);
    expect((await api.deleteSchedule(created.id)).id).toBe(created.id);
    const gone = await api.getSchedule(created.id).catch((err: unknown) => err);
    expect(gone).toBeInstanceOf(SwitchyardApiError);
    expect((gone as SwitchyardApiError).status).toBe(404);
  });

  it('refuses a bad cron, time zone, template or context with a 400/404 naming it, creating nothing', async () => {
    const before = await h.rowCounts();
    const schedules = async () => (await h.pool.query('SELECT count(*)::int AS n FROM schedules')).rows[0].n;
    const schedulesBefore = await schedules();
    const post = (patch: object) => h.call('POST', '/v1/schedules', { body: { ...body, ...patch } });
    const cron = await post({ cron: '* * *' });
    expect(cron.status).toBe(400);
    expect(cron.body.errors[0]).toMatchObject({ path: '/cron', rule: 'cron' });
    expect(cron.body.errors[0].message).toContain('has 3 fields');
    const zone = await post({ timezone: 'Europe/Atlantis' });
    expect(zone.status).toBe(400);
    expect(zone.body.errors[0]).toMatchObject({ path: '/timezone', rule: 'time_zone' });
    const context = await post({ context: { region: 7 } });
    expect(context.status).toBe(400);
    expect(context.body.errors[0].path).toBe('/context/region');
    const unknown = await post({ name: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toContain('unknown template shop/nope');
    const overlap = await post({ overlap: 'never' });
    expect(overlap.status).toBe(400);
    expect(await h.rowCounts()).toEqual(before);
    expect(await schedules()).toBe(schedulesBefore);
  });

  it('a key restricted to other namespaces can neither create nor see the schedule', async () => {
    const created = await client().createSchedule(body);
    const other = await h.key(['tasks:read', 'tasks:write'], ['billing']);
    expect((await h.call('POST', '/v1/schedules', { body, key: other })).status).toBe(403);
    expect((await h.call('GET', `/v1/schedules/${created.id}`, { key: other })).status).toBe(404);
    expect((await h.call('POST', `/v1/schedules/${created.id}/pause`, { key: other })).status).toBe(404);
    const listed = await h.call('GET', '/v1/schedules', { key: other });
    expect(listed.body.schedules).toEqual([]);
    await client().deleteSchedule(created.id);
  });
});
