import { createSwitchyardClient } from '@switchyard/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const welcome = apiTemplate({
  triggers: [{ event: 'user.signed_up' }],
  context_schema: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
  steps: [{ name: 'mail', handler: 'trigger_mail' }],
});
const keyed = apiTemplate({
  identity_strategy: 'caller_key',
  triggers: [{ event: 'invoice.due' }],
  steps: [{ name: 'remind', handler: 'trigger_remind' }],
});
const account = apiTemplate({
  namespace: 'billing',
  triggers: [{ event: 'user.signed_up' }],
  steps: [{ name: 'open', handler: 'trigger_open' }],
});

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([welcome, account, keyed]);
});
afterAll(() => h.close());

const post = (body: unknown, init: { key?: string; headers?: Record<string, string> } = {}) =>
  h.call('POST', '/v1/events', { body, ...init });

describe('POST /v1/events', () => {
  it('starts every listening template (201), and a replay with the same Idempotency-Key starts nothing new (200)', async () => {
    const body = { name: 'user.signed_up', payload: { email: 'ada@example.com' } };
    const headers = { 'idempotency-key': 'signup-1' };
    const first = await post(body, { headers });
    expect(first.status).toBe(201);
    expect(first.body.event).toBe('user.signed_up');
    expect(
      first.body.tasks.map((t: { task: { namespace: string; name: string } }) => t.task.namespace),
    ).toEqual(['billing', 'shop']);
    expect(first.body.tasks[1]).toMatchObject({
      duplicate: false,
      task: { name: welcome.name, context: { email: 'ada@example.com' }, status: 'pending' },
    });
    const replay = await post(body, { headers });
    expect(replay.status).toBe(200);
    expect(
      replay.body.tasks.map((t: { duplicate: boolean; task: { id: string } }) => [t.task.id, t.duplicate]),
    ).toEqual(first.body.tasks.map((t: { task: { id: string } }) => [t.task.id, true]));
  });

  it('answers 400 naming the field, changing nothing, for a payload a template refuses or a bad name', async () => {
    const before = await h.rowCounts();
    const refused = await post({ name: 'user.signed_up', payload: { name: 'no email' } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({
        path: '/payload/email',
        rule: 'required',
        message: expect.stringContaining(welcome.name),
      }),
    ]);
    for (const name of ['task.completed', 'Signed Up']) {
      const bad = await post({ name, payload: {} });
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].path).toBe('/name');
    }
    expect(await h.rowCounts()).toEqual(before);
  });

  it('answers 400 at the Idempotency-Key header, starting nothing, when a template needs a caller key', async () => {
    const before = await h.rowCounts();
    const refused = await post({ name: 'invoice.due', payload: {} });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({
        path: '/headers/idempotency-key',
        rule: 'required',
        message: expect.stringContaining(`shop/${keyed.name}`),
      }),
    ]);
    expect(await h.rowCounts()).toEqual(before);
    const keyedPost = await post(
      { name: 'invoice.due', payload: {} },
      { headers: { 'idempotency-key': 'inv-1' } },
    );
    expect(keyedPost.status).toBe(201);
  });

  it('starts only templates of the namespaces a key may touch, and needs tasks:write', async () => {
    const billingOnly = await h.key(['tasks:write'], ['billing']);
    const limited = await post(
      { name: 'user.signed_up', payload: { email: 'bo@example.com' } },
      { key: billingOnly },
    );
    expect(limited.status).toBe(201);
    expect(limited.body.tasks.map((t: { task: { namespace: string } }) => t.task.namespace)).toEqual([
      'billing',
    ]);
    const reader = await h.key(['tasks:read']);
    expect((await post({ name: 'user.signed_up', payload: {} }, { key: reader })).status).toBe(403);
  });

  it('is reachable through the typed client', async () => {
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: h.adminKey });
    const answer = await client.postEvent({ name: 'order.placed', payload: {} });
    expect(answer).toEqual({ event: 'order.placed', tasks: [] });
  });
});
