import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSwitchyardClient } from '@switchyard/client';
import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness, sleep } from './harness.ts';

// The endpoints the dashboard needs beyond the task reads: counts by status, one breaker's
// history and held steps, queues with their consumers; and secrets redacted in every task read.
let h: ApiHarness;
let dashboardDir: string;
const signup = apiTemplate({
  steps: [
    { name: 'create', handler: 'views_create' },
    { name: 'bill', handler: 'views_bill', depends_on: ['create'], dependent_system: 'views_billing' },
  ],
});
const other = apiTemplate({ namespace: 'other', steps: [{ name: 'only', handler: 'views_other' }] });
const unserved = apiTemplate({ steps: [{ name: 'only', handler: 'views_unserved' }] });

beforeAll(async () => {
  dashboardDir = await mkdtemp(join(tmpdir(), 'switchyard-ui-'));
  await writeFile(join(dashboardDir, 'index.html'), '<!doctype html><title>Switchyard</title>');
  h = await createApiHarness({ dashboardDir });
  await h.register([signup, other, unserved]);
});
afterAll(async () => {
  await h.close();
  await rm(dashboardDir, { recursive: true, force: true });
});

const create = (template: typeof signup, context: unknown, correlationId?: string) =>
  h.call('POST', '/v1/tasks', {
    body: {
      namespace: template.namespace,
      name: template.name,
      context,
      ...(correlationId ? { correlationId } : {}),
    },
  });

async function waitForStatus(id: string, status: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await h.call('GET', `/v1/tasks/${id}`)).body.status === status) return;
    await sleep(50);
  }
  throw new Error(`task ${id} never became ${status}`);
}

describe('GET /v1/tasks/counts', () => {
  it('counts matching tasks per status, every status present, within the key’s namespaces', async () => {
    const a = await create(signup, { n: 1 }, 'counts');
    await create(signup, { n: 2 }, 'counts');
    await create(other, { n: 3 }, 'counts');
    await h.call('POST', `/v1/tasks/${a.body.task.id}/cancel`, { body: { reason: 'test' } });

    const all = await h.call('GET', '/v1/tasks/counts?correlationId=counts');
    expect(all.status).toBe(200);
    expect(all.body).toEqual({
      counts: { pending: 2, in_progress: 0, complete: 0, error: 0, cancelled: 1 },
      total: 3,
    });
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
    expect(await client.countTasks({ correlationId: 'counts', namespace: 'other' })).toMatchObject({
      total: 1,
    });
    const byTemplate = await h.call('GET', `/v1/tasks/counts?namespace=shop&name=${signup.name}`);
    expect(byTemplate.body.total).toBe(2);
    const future = await h.call(
      'GET',
      `/v1/tasks/counts?createdAfter=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    expect(future.body.total).toBe(0);

    const shopOnly = await h.key(['tasks:read'], ['shop']);
    const restricted = await h.call('GET', '/v1/tasks/counts?correlationId=counts', { key: shopOnly });
    expect(restricted.body.total).toBe(2);
    expect((await h.call('GET', '/v1/tasks/counts?namespace=other', { key: shopOnly })).status).toBe(403);
  });

  it('refuses unknown filters and needs the tasks:read scope', async () => {
    const bad = await h.call('GET', '/v1/tasks/counts?status=complete');
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ rule: 'unrecognized_keys' })]);
    expect((await h.call('GET', '/v1/tasks/counts', { key: '' })).status).toBe(401);
    const writer = await h.key(['tasks:write']);
    expect((await h.call('GET', '/v1/tasks/counts', { key: writer })).status).toBe(403);
  });
});

describe('secrets in task reads', () => {
  it('redacts secret-named keys of the context and results, and keeps the stored values; lists all attempts', async () => {
    const worker = await h.startWorker([
      defineStepHandler('views_create', async () => ({ user_id: 'u1', session_token: 'tok-123' })),
      defineStepHandler('views_bill', async () => ({ billed: true })),
    ]);
    const created = await create(signup, {
      email: 'a@example.com',
      password: 'hunter2',
      card: { number: '4242' },
    });
    expect(created.body.task.context).toEqual({
      email: 'a@example.com',
      password: '[redacted]',
      card: '[redacted]',
    });
    const id = created.body.task.id;
    await waitForStatus(id, 'complete');
    const task = await h.call('GET', `/v1/tasks/${id}`);
    expect(task.body.context.password).toBe('[redacted]');
    expect(task.body.steps.find((step: { name: string }) => step.name === 'create').results).toEqual({
      user_id: 'u1',
      session_token: '[redacted]',
    });
    const attempts = await h.call('GET', `/v1/tasks/${id}/attempts`);
    expect(attempts.status).toBe(200);
    expect(attempts.body.attempts).toEqual([
      expect.objectContaining({ step: 'create', attempt: 1, outcome: 'success' }),
      expect.objectContaining({
        step: 'bill',
        attempt: 1,
        outcome: 'success',
        dependentSystem: 'views_billing',
      }),
    ]);
    const elsewhere = await h.key(['tasks:read'], ['other']);
    expect((await h.call('GET', `/v1/tasks/${id}/attempts`, { key: elsewhere })).status).toBe(404);
    const unknown = await h.call('GET', '/v1/tasks/00000000-0000-4000-8000-000000000000/attempts');
    expect(unknown.status).toBe(404);
    const stored = await h.pool.query('SELECT context FROM tasks WHERE id = $1', [id]);
    expect(stored.rows[0].context.password).toBe('hunter2');
    await worker.stop();
  });
});

describe('GET /v1/breakers/{system}', () => {
  it('shows the transition log with the evidence of each change, and the held steps', async () => {
    const operator = await h.key(['operate', 'tasks:read', 'tasks:write']);
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: operator });
    await client.forceBreaker('views_billing', 'open', 'billing maintenance');
    const worker = await h.startWorker([
      defineStepHandler('views_create', async () => ({ user_id: 'u2' })),
      defineStepHandler('views_bill', async () => ({ billed: true })),
    ]);
    const { task } = await client.createTask({
      namespace: 'shop',
      name: signup.name,
      context: { n: 'held' },
    });
    let detail = await client.getBreaker('views_billing');
    for (let i = 0; i < 200 && detail.heldSteps.length === 0; i++) {
      await sleep(50);
      detail = await client.getBreaker('views_billing');
    }
    expect(detail.breaker).toMatchObject({ dependentSystem: 'views_billing', state: 'open', forced: 'open' });
    expect(detail.heldSteps).toEqual([
      expect.objectContaining({
        taskId: task.id,
        namespace: 'shop',
        step: 'bill',
        holdReason: expect.any(String),
      }),
    ]);
    await client.forceBreaker('views_billing', 'close', 'maintenance over');
    detail = await client.getBreaker('views_billing');
    expect(detail.transitions.map((t) => [t.from, t.to])).toEqual([
      ['open', 'closed'],
      ['closed', 'open'],
    ]);
    expect(detail.transitions[1]).toMatchObject({
      actor: expect.stringMatching(/^key:/),
      reason: 'open by operator: billing maintenance',
      evidence: { action: 'open', reason: 'billing maintenance' },
    });
    const elsewhere = await h.key(['tasks:read'], ['other']);
    const restricted = await h.call('GET', '/v1/breakers/views_billing', { key: elsewhere });
    expect(restricted.status).toBe(200);
    await worker.stop();
  });

  it('answers 404 for a system without a breaker', async () => {
    const missing = await h.call('GET', '/v1/breakers/no_such_system');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('not_found');
  });
});

describe('GET /v1/queues', () => {
  it('lists every step type with its jobs, open steps and the live workers consuming it', async () => {
    const worker = await h.startWorker([defineStepHandler('views_other', async () => ({}))]);
    await create(unserved, { n: 1 });
    await create(unserved, { n: 2 });
    const response = await h.call('GET', '/v1/queues');
    expect(response.status).toBe(200);
    const byType = Object.fromEntries(
      response.body.queues.map((queue: { stepType: string }) => [queue.stepType, queue]),
    );
    expect(Object.keys(byType)).toEqual(['views_bill', 'views_create', 'views_other', 'views_unserved']);
    expect(byType.views_other.workers).toEqual([
      expect.objectContaining({ id: worker.workerId, pid: process.pid, concurrency: expect.any(Number) }),
    ]);
    expect(byType.views_unserved.workers).toEqual([]);
    // No worker serves this step type: both tasks' jobs wait in its queue, in BullMQ's
    // prioritized set (fair queueing gives every job a priority).
    expect(byType.views_unserved).toMatchObject({
      depth: 2,
      jobs: { wait: 0, prioritized: 2 },
      steps: { enqueued: 2 },
    });
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
    expect((await client.listQueues()).map((queue) => queue.stepType)).toContain('views_unserved');
    await worker.stop();
    expect((await h.call('GET', '/v1/queues', { key: '' })).status).toBe(401);
  });
});

describe('GET /ui', () => {
  it('serves the dashboard build, redirecting /ui to /ui/', async () => {
    const redirect = await fetch(`${h.url}/ui`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/ui/');
    const page = await fetch(`${h.url}/ui/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Switchyard</title>');
    expect((await fetch(`${h.url}/ui/missing.js`)).status).toBe(404);
  });

  it('sends a Content-Security-Policy and the anti-framing headers on every /ui response', async () => {
    const responses = [
      await fetch(`${h.url}/ui`, { redirect: 'manual' }),
      await fetch(`${h.url}/ui/`),
      await fetch(`${h.url}/ui/index.html`),
    ];
    for (const response of responses) {
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain('unsafe');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
    // The API's own answers are not a page: they keep their headers.
    expect((await h.call('GET', '/v1/tasks')).headers.get('content-security-policy')).toBeNull();
  });

  it('says which command builds the dashboard when there is no build', async () => {
    const bare = await createApiHarness({ dashboardDir: join(dashboardDir, 'nothing-here') });
    try {
      const page = await fetch(`${bare.url}/ui/`);
      expect(page.status).toBe(503);
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(await page.text()).toContain('pnpm dashboard:build');
    } finally {
      await bare.close();
    }
  });
});
