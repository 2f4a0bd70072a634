import { Validator } from '@seriousme/openapi-schema-validator';
import { defineStepHandler, RetryableError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness, sleep } from './harness.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
});
afterAll(() => h.close());

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const { body } = await h.call('GET', '/openapi.json', { key: '' });
    expect(body.openapi).toBe('3.1.0');
    const result = await new Validator().validate(body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes exactly the routes the server has, with their security', async () => {
    const { body } = await h.call('GET', '/openapi.json', { key: '' });
    const documented = Object.entries(body.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual([
      'DELETE /v1/schedules/{id}',
      'DELETE /v1/webhooks/{id}',
      'GET /health/live',
      'GET /health/ready',
      'GET /metrics',
      'GET /v1/breakers',
      'GET /v1/breakers/{system}',
      'GET /v1/events',
      'GET /v1/limits',
      'GET /v1/limits/{system}',
      'GET /v1/queues',
      'GET /v1/schedules',
      'GET /v1/schedules/{id}',
      'GET /v1/tasks',
      'GET /v1/tasks/counts',
      'GET /v1/tasks/{id}',
      'GET /v1/tasks/{id}/attempts',
      'GET /v1/tasks/{id}/events',
      'GET /v1/tasks/{id}/steps/{step}/attempts',
      'GET /v1/tasks/{id}/steps/{step}/batches',
      'GET /v1/tasks/{id}/transitions',
      'GET /v1/templates',
      'GET /v1/templates/{namespace}/{name}',
      'GET /v1/webhooks',
      'GET /v1/webhooks/{id}',
      'GET /v1/webhooks/{id}/deliveries',
      'POST /v1/breakers/{system}/{action}',
      'POST /v1/events',
      'POST /v1/limits/{system}/override',
      'POST /v1/limits/{system}/reset',
      'POST /v1/schedules',
      'POST /v1/schedules/{id}/pause',
      'POST /v1/schedules/{id}/resume',
      'POST /v1/tasks',
      'POST /v1/tasks/{id}/cancel',
      'POST /v1/tasks/{id}/steps/{step}/resolve',
      'POST /v1/tasks/{id}/steps/{step}/retry',
      'POST /v1/webhooks',
    ]);
    for (const route of documented) {
      const [method, path] = route.split(' ') as [string, string];
      const probe = path.replace('{id}', '00000000-0000-4000-8000-000000000000').replace(/\{[a-z]+\}/g, 'x');
      const response = await h.call(method, probe.replace(/\/x$/, method === 'POST' ? '/open' : '/x'), {
        key: '',
      });
      // Every documented route is served: it answers something other than "no such route".
      const missing = String(response.body?.detail ?? '').startsWith('no route');
      expect({ route, missing }).toEqual({ route, missing: false });
    }
    expect(body.paths['/v1/tasks'].post.security).toEqual([{ apiKey: [] }]);
    expect(body.paths['/health/live'].get.security).toEqual([]);
    expect(body.components.schemas).toHaveProperty('Task');
    expect(body.components.schemas).toHaveProperty('Problem');
  });

  it('serves a readable reference at /docs that works offline', async () => {
    const response = await h.call('GET', '/docs', { key: '' });
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(response.body).toContain("fetch('openapi.json')");
    expect(response.body).not.toMatch(/https?:\/\//);
  });
});

describe('health', () => {
  it('is live, and ready when Postgres, Redis and the migrations are', async () => {
    expect((await h.call('GET', '/health/live', { key: '' })).body).toEqual({ status: 'ok', checks: {} });
    const ready = await h.call('GET', '/health/ready', { key: '' });
    expect(ready).toMatchObject({
      status: 200,
      body: {
        status: 'ok',
        checks: { postgres: { ok: true }, redis: { ok: true }, migrations: { ok: true } },
      },
    });
  });

  it('is not ready (503, naming the check) when a migration is missing', async () => {
    const last = await h.pool.query('SELECT * FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1');
    await h.pool.query('DELETE FROM _prisma_migrations WHERE id = $1', [last.rows[0].id]);
    try {
      const ready = await h.call('GET', '/health/ready', { key: '' });
      expect(ready.status).toBe(503);
      expect(ready.headers.get('content-type')).toContain('application/problem+json');
      expect(ready.body).toMatchObject({ code: 'not_ready', detail: expect.stringContaining('migrations') });
      expect(ready.body.checks.migrations).toMatchObject({
        ok: false,
        detail: expect.stringContaining(last.rows[0].migration_name),
      });
    } finally {
      const row = last.rows[0];
      const columns = Object.keys(row);
      await h.pool.query(
        `INSERT INTO _prisma_migrations (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
        columns.map((c) => row[c]),
      );
    }
  });
});

describe('metrics', () => {
  it('reports tasks, attempts, durations, queue waits, queue depth and breakers in Prometheus format', async () => {
    let calls = 0;
    const flow = apiTemplate({
      steps: [
        {
          name: 'a',
          handler: 'm_a',
          dependent_system: 'billing',
          retry: { max_attempts: 2, backoff_base_ms: 10, jitter: false },
        },
        { name: 'later', handler: 'm_idle', depends_on: ['a'] },
      ],
    });
    const parked = apiTemplate({ steps: [{ name: 'p', handler: 'm_parked' }] });
    await h.register([flow, parked]);
    await h.startWorker([
      defineStepHandler('m_a', () => {
        calls += 1;
        if (calls === 1) throw new RetryableError('busy');
        return {};
      }),
      defineStepHandler('m_idle', () => ({})),
    ]);
    const { body } = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name: flow.name, context: {} },
    });
    // Nobody serves m_parked: its job waits in the queue.
    await h.call('POST', '/v1/tasks', { body: { namespace: 'shop', name: parked.name, context: {} } });
    for (
      let i = 0;
      i < 500 && (await h.call('GET', `/v1/tasks/${body.task.id}`)).body.status !== 'complete';
      i++
    )
      await sleep(20);
    await h.call('POST', '/v1/breakers/billing/open', { body: { reason: 'test' } });
    await sleep(2_100); // rows are read once settled (2 s)

    const text = (await h.call('GET', '/metrics', { key: '' })).body as string;
    const labels = `namespace="shop",name="${flow.name}",version="1.0.0"`;
    expect(text).toContain(`switchyard_tasks_created_total{${labels}} 1`);
    expect(text).toContain(`switchyard_tasks_finished_total{${labels},status="complete"} 1`);
    expect(text).toContain(
      'switchyard_step_attempts_total{dependent_system="billing",outcome="retryable_error"} 1',
    );
    expect(text).toContain('switchyard_step_attempts_total{dependent_system="billing",outcome="success"} 1');
    expect(text).toMatch(
      /switchyard_step_duration_seconds_count\{handler="m_a",dependent_system="billing"\} 2/,
    );
    expect(text).toMatch(/switchyard_step_queue_wait_seconds_count\{handler="m_idle"\} 1/);
    expect(text).toContain('switchyard_queue_depth{step_type="m_parked",state="wait"} 1');
    expect(text).toContain('switchyard_breaker_state{dependent_system="billing"} 2');

    // A second scrape does not count the same rows again.
    const again = (await h.call('GET', '/metrics', { key: '' })).body as string;
    expect(again).toContain(`switchyard_tasks_created_total{${labels}} 1`);
  });
});
