import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const email = apiTemplate({
  context_schema: {
    type: 'object',
    required: ['email'],
    properties: { email: { type: 'string', format: 'email' } },
  },
  steps: [
    { name: 'first', handler: 'api_first' },
    { name: 'second', handler: 'api_second', depends_on: ['first'], dependent_system: 'mail' },
  ],
});
const keyed = apiTemplate({
  identity_strategy: 'caller_key',
  steps: [{ name: 'only', handler: 'api_keyed' }],
});

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([email, keyed]);
});
afterAll(() => h.close());

const create = (
  context: unknown,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) =>
  h.call('POST', '/v1/tasks', { body: { namespace: 'shop', name: email.name, context, ...extra }, headers });

describe('POST /v1/tasks', () => {
  it('creates a task (201) with its steps, and answers a duplicate with 200 and the same task', async () => {
    const first = await create(
      { email: 'a@example.com' },
      { tags: ['vip'] },
      { 'x-correlation-id': 'corr-1' },
    );
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe(`/v1/tasks/${first.body.task.id}`);
    expect(first.headers.get('x-correlation-id')).toBe('corr-1');
    expect(first.body).toMatchObject({
      duplicate: false,
      task: {
        namespace: 'shop',
        name: email.name,
        version: '1.0.0',
        status: 'pending',
        correlationId: 'corr-1',
        tags: ['vip'],
        context: { email: 'a@example.com' },
      },
    });
    expect(first.body.task.steps).toEqual([
      expect.objectContaining({
        name: 'first',
        status: 'enqueued',
        dependsOn: [],
        dependentSystem: 'svc',
        maxAttempts: 3,
      }),
      expect.objectContaining({
        name: 'second',
        status: 'pending',
        dependsOn: ['first'],
        dependentSystem: 'mail',
      }),
    ]);

    const again = await create({ email: 'a@example.com' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, task: { id: first.body.task.id } });
  });

  it('dedupes by the Idempotency-Key header, and requires it where the template says so', async () => {
    const body = { namespace: 'shop', name: keyed.name, context: {} };
    const before = await h.rowCounts();
    const missing = await h.call('POST', '/v1/tasks', { body });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([
      expect.objectContaining({
        path: '/headers/idempotency-key',
        rule: 'required',
        message: expect.stringContaining(`shop/${keyed.name}`),
      }),
    ]);
    // The header's own checks point at the same place.
    const tooLong = await h.call('POST', '/v1/tasks', {
      body,
      headers: { 'idempotency-key': 'k'.repeat(201) },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors).toEqual([expect.objectContaining({ path: '/headers/idempotency-key' })]);
    // Told about the missing key first, even when the context is wrong too.
    const both = await h.call('POST', '/v1/tasks', { body: { ...body, context: 'not an object' } });
    expect(both.body.errors).toEqual([expect.objectContaining({ path: '/headers/idempotency-key' })]);
    expect(await h.rowCounts()).toEqual(before);

    const headers = { 'idempotency-key': 'order-77' };
    const first = await h.call('POST', '/v1/tasks', { body, headers });
    const second = await h.call('POST', '/v1/tasks', { body, headers });
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.task.id).toBe(first.body.task.id);
  });

  it('names every failing field in a problem+json 400', async () => {
    const response = await h.call('POST', '/v1/tasks', {
      body: { namespace: '', name: email.name, context: {}, priority: 1.5, colour: 'red' },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 400, code: 'validation_failed', instance: '/v1/tasks' });
    const paths = response.body.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(['', '/namespace', '/priority']);
    expect(response.body.errors.find((e: { path: string }) => e.path === '')).toMatchObject({
      rule: 'unrecognized_keys',
    });

    const context = await create({ email: 'not-an-email' });
    expect(context.status).toBe(400);
    expect(context.body.errors).toEqual([
      expect.objectContaining({ path: '/context/email', rule: 'format' }),
    ]);
  });

  it('answers an unknown template with 404 listing what exists', async () => {
    const response = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name: 'nope', context: {} },
    });
    expect(response.status).toBe(404);
    expect(response.body.detail).toContain(`shop/${email.name}@1.0.0`);
  });

  it('refuses bodies that are too large, not JSON or of another media type', async () => {
    const big = await create({ email: 'a@example.com', pad: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('payload_too_large');
    const broken = await h.call('POST', '/v1/tasks', { body: '{"namespace": ' });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('bad_request');
    const text = await h.call('POST', '/v1/tasks', {
      body: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
  });
});

describe('GET /v1/tasks', () => {
  it('filters and pages through tasks in a stable order without skipping or repeating', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await create({ email: `page${i}@example.com` }, { correlationId: 'paging' })).body.task.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/tasks?correlationId=paging&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await h.call('GET', query);
      expect(page.status).toBe(200);
      seen.push(...page.body.tasks.map((t: { id: string }) => t.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const byStatus = await h.call('GET', `/v1/tasks?namespace=shop&name=${email.name}&status=cancelled`);
    expect(byStatus.body.tasks).toEqual([]);
    const future = await h.call(
      'GET',
      `/v1/tasks?createdAfter=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    expect(future.body.tasks).toEqual([]);
  });

  it('refuses bad filters with the field named', async () => {
    const response = await h.call('GET', '/v1/tasks?status=done&limit=0&cursor=zzz');
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      '/query/limit',
      '/query/status',
    ]);
    const cursor = await h.call('GET', '/v1/tasks?cursor=zzz');
    expect(cursor.body.errors).toEqual([expect.objectContaining({ path: '/query/cursor' })]);
  });
});

describe('reading and operating one task', () => {
  it('shows the task, its audit trail and attempts; retries a failed step and resolves another', async () => {
    let failSecond = true;
    const flow = apiTemplate({
      steps: [
        { name: 'a', handler: 'op_a' },
        { name: 'b', handler: 'op_b', depends_on: ['a'] },
        { name: 'c', handler: 'op_c', depends_on: ['b'] },
      ],
    });
    await h.register([flow]);
    await h.startWorker([
      defineStepHandler('op_a', () => ({ a: 1 })),
      defineStepHandler('op_b', () => {
        if (failSecond) throw new PermanentError('declined', { errorCode: 'declined' });
        return { b: 2 };
      }),
      defineStepHandler('op_c', () => Promise.reject(new PermanentError('broken', { errorCode: 'broken' }))),
    ]);
    const { body } = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name: flow.name, context: {} },
    });
    const id = body.task.id as string;
    const task = await waitFor(id, ['error']);
    expect(task.steps.map((s: { status: string }) => s.status)).toEqual(['complete', 'error', 'pending']);
    expect(task.steps[1].lastError).toMatchObject({ code: 'declined' });

    const attempts = await h.call('GET', `/v1/tasks/${id}/steps/b/attempts`);
    expect(attempts.body.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'permanent_error',
        errorCode: 'declined',
        stale: false,
      }),
    ]);

    failSecond = false;
    const retried = await h.call('POST', `/v1/tasks/${id}/steps/b/retry`, {
      body: { reason: 'fixed the card' },
    });
    expect(retried.status).toBe(200);
    expect(retried.body.status).toBe('in_progress');
    const blocked = await waitFor(id, ['error']);
    expect(blocked.steps.map((s: { status: string }) => s.status)).toEqual(['complete', 'complete', 'error']);

    const resolved = await h.call('POST', `/v1/tasks/${id}/steps/c/resolve`, {
      body: { results: { manual: true } },
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ status: 'complete' });
    expect(resolved.body.steps[2]).toMatchObject({ status: 'resolved_manually', results: { manual: true } });

    const trail = await h.call('GET', `/v1/tasks/${id}/transitions`);
    const taskTrail = trail.body.transitions.filter((t: { kind: string }) => t.kind === 'task');
    expect(taskTrail.map((t: { to: string }) => t.to)).toEqual([
      'pending',
      'in_progress',
      'error',
      'in_progress',
      'error',
      'in_progress',
      'complete',
    ]);
    expect(trail.body.transitions).toContainEqual(
      expect.objectContaining({
        kind: 'step',
        step: 'b',
        from: 'error',
        to: 'enqueued',
        reason: 'fixed the card',
      }),
    );
    expect(trail.body.transitions.at(-1)).toMatchObject({ actor: expect.stringMatching(/^key:/) });
  });

  it('answers illegal operations with 409 saying why, and unknown ones with 404', async () => {
    const { body } = await create({ email: 'cancel@example.com' });
    const id = body.task.id as string;
    const cancelled = await h.call('POST', `/v1/tasks/${id}/cancel`, { body: { reason: 'customer left' } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const again = await h.call('POST', `/v1/tasks/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'conflict', detail: expect.stringContaining('is cancelled') });
    const retry = await h.call('POST', `/v1/tasks/${id}/steps/first/retry`);
    expect(retry.status).toBe(409);

    const missing = await h.call('GET', '/v1/tasks/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    const badId = await h.call('GET', '/v1/tasks/42');
    expect(badId.status).toBe(400);
    expect(badId.body.errors).toEqual([expect.objectContaining({ path: '/params/id' })]);
    const noStep = await h.call('GET', `/v1/tasks/${id}/steps/ghost/attempts`);
    expect(noStep.status).toBe(404);
    const noRoute = await h.call('GET', '/v2/everything');
    expect(noRoute).toMatchObject({ status: 404, body: { code: 'not_found' } });
  });
});

describe('templates', () => {
  it('lists templates with versions and shows one with steps and schema', async () => {
    await h.register([{ ...email, version: '1.1.0' }]);
    const list = await h.call('GET', '/v1/templates');
    expect(list.body.templates).toContainEqual(
      expect.objectContaining({
        namespace: 'shop',
        name: email.name,
        versions: ['1.1.0', '1.0.0'],
        latest: '1.1.0',
      }),
    );
    const one = await h.call('GET', `/v1/templates/shop/${email.name}`);
    expect(one.body.versions[0]).toMatchObject({
      version: '1.0.0',
      identityStrategy: 'strict',
      contextSchema: { required: ['email'] },
      steps: [
        expect.objectContaining({ name: 'first', dependsOn: [] }),
        expect.objectContaining({ name: 'second', dependsOn: ['first'] }),
      ],
    });
    const unknown = await h.call('GET', '/v1/templates/shop/none');
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toContain(`shop/${email.name}`);
  });
});

async function waitFor(id: string, statuses: string[]) {
  for (let i = 0; i < 500; i++) {
    const { body } = await h.call('GET', `/v1/tasks/${id}`);
    if (statuses.includes(body.status)) return body;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`task ${id} never reached ${statuses.join('|')}`);
}
