import { createServer, type Server } from 'node:http';
import {
  createSwitchyardClient,
  SwitchyardApiError,
  type SwitchyardClient,
  SwitchyardNetworkError,
  WaitTimeoutError,
} from '@switchyard/client';
import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
let client: SwitchyardClient;
let broken = true;
const flow = apiTemplate({
  steps: [
    { name: 'charge', handler: 'cl_charge' },
    { name: 'ship', handler: 'cl_ship', depends_on: ['charge'] },
  ],
});
const parked = apiTemplate({ steps: [{ name: 'wait', handler: 'cl_nobody' }] });

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([flow, parked]);
  await h.startWorker([
    defineStepHandler('cl_charge', () => {
      if (broken) throw new PermanentError('card declined', { errorCode: 'declined' });
      return { charged: true };
    }),
    defineStepHandler('cl_ship', (ctx) => ({ shipped: true, after: ctx.parents.charge })),
  ]);
  client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
});
afterAll(() => h.close());

describe('the typed client against the server', () => {
  it('creates, waits for, reads, lists and repairs tasks', async () => {
    const created = await client.createTask({ namespace: 'shop', name: flow.name, context: { order: 1 } });
    expect(created.duplicate).toBe(false);
    const failed = await client.waitForTask(created.task.id, { timeoutMs: 10_000 });
    expect(failed.status).toBe('error');
    expect(failed.steps[0]).toMatchObject({
      name: 'charge',
      status: 'error',
      lastError: { code: 'declined' },
    });

    const attempts = await client.getAttempts(created.task.id, 'charge');
    expect(attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'permanent_error' })]);

    broken = false;
    await client.retryStep(created.task.id, 'charge', 'card replaced');
    const done = await client.waitForTask(created.task.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('complete');
    expect(done.steps[1]!.results).toEqual({ shipped: true, after: { charged: true } });

    const trail = await client.getTransitions(created.task.id);
    expect(trail.at(-1)).toMatchObject({ kind: 'task', to: 'complete' });
    const page = await client.listTasks({ namespace: 'shop', name: flow.name, status: 'complete' });
    expect(page.tasks.map((t) => t.id)).toContain(created.task.id);
    expect((await client.listTemplates()).map((t) => t.name)).toContain(flow.name);
    expect((await client.getTemplate('shop', flow.name)).versions[0]!.steps).toHaveLength(2);
  });

  it('resolves and cancels, and dedupes creates by idempotency key', async () => {
    const first = await client.createTask(
      { namespace: 'shop', name: parked.name, context: {} },
      { idempotencyKey: 'k-1' },
    );
    const second = await client.createTask(
      { namespace: 'shop', name: parked.name, context: {} },
      { idempotencyKey: 'k-1' },
    );
    expect(second).toMatchObject({ duplicate: true, task: { id: first.task.id } });
    const resolved = await client.resolveStep(first.task.id, 'wait', {
      results: { by: 'hand' },
      reason: 'no worker',
    });
    expect(resolved.status).toBe('complete');

    const other = await client.createTask({ namespace: 'shop', name: parked.name, context: { n: 2 } });
    const cancelled = await client.cancelTask(other.task.id, 'not needed');
    expect(cancelled.status).toBe('cancelled');
  });

  it('throws typed errors carrying the problem details', async () => {
    const invalid = await client
      .createTask({ namespace: 'shop', name: flow.name, context: {}, priority: 5000 })
      .catch((e) => e);
    expect(invalid).toBeInstanceOf(SwitchyardApiError);
    expect(invalid).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(invalid.problem.errors).toEqual([expect.objectContaining({ path: '/priority' })]);

    const conflict = await client
      .cancelTask((await client.listTasks({ status: 'cancelled' })).tasks[0]!.id)
      .catch((e) => e);
    expect(conflict).toMatchObject({ status: 409, code: 'conflict' });

    const unauthorized = createSwitchyardClient({ baseUrl: h.url, apiKey: 'sy_nope_nope' });
    expect(await unauthorized.listTasks().catch((e) => e)).toMatchObject({
      status: 401,
      code: 'unauthorized',
    });
  });

  it('gives up waiting with the last state seen', async () => {
    const { task } = await client.createTask({ namespace: 'shop', name: parked.name, context: { n: 3 } });
    const error = await client.waitForTask(task.id, { timeoutMs: 300, intervalMs: 50 }).catch((e) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.task).toMatchObject({ id: task.id, status: 'pending' });
  });
});

describe('retries and correlation', () => {
  let flaky: Server;
  let url: string;
  const seen: { method: string; correlation: string | undefined }[] = [];
  let failures = 0;

  beforeAll(async () => {
    // A real HTTP server in front of nothing: fails `failures` times with 503, then answers a page.
    flaky = createServer((request, response) => {
      seen.push({
        method: request.method ?? '',
        correlation: request.headers['x-correlation-id'] as string | undefined,
      });
      if (failures > 0) {
        failures -= 1;
        response.writeHead(503, { 'content-type': 'application/problem+json' });
        response.end(
          JSON.stringify({
            type: 'x',
            title: 'Unavailable',
            status: 503,
            detail: 'down',
            code: 'transient_infrastructure',
          }),
        );
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ tasks: [], nextCursor: null }));
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const address = flaky.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => flaky.close(() => resolve())));

  it('retries idempotent calls on 5xx and sends the correlation id', async () => {
    failures = 2;
    seen.length = 0;
    const c = createSwitchyardClient({ baseUrl: url, retryBaseMs: 5, correlationId: 'corr-42' });
    expect(await c.listTasks()).toEqual({ tasks: [], nextCursor: null });
    expect(seen).toEqual(Array(3).fill({ method: 'GET', correlation: 'corr-42' }));
  });

  it('does not retry a write that is not safe to repeat', async () => {
    failures = 1;
    seen.length = 0;
    const c = createSwitchyardClient({ baseUrl: url, retryBaseMs: 5 });
    const error = await c.cancelTask('00000000-0000-4000-8000-000000000000').catch((e) => e);
    expect(error).toMatchObject({ status: 503 });
    expect(seen).toHaveLength(1);
  });

  it('reports an unreachable API as a network error after its retries', async () => {
    const c = createSwitchyardClient({ baseUrl: 'http://127.0.0.1:1', retries: 1, retryBaseMs: 5 });
    expect(await c.listTasks().catch((e) => e)).toBeInstanceOf(SwitchyardNetworkError);
  });
});
