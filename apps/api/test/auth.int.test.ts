import { createApiKey } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
const shop = apiTemplate({ steps: [{ name: 'one', handler: 'auth_one' }] });
const billing = apiTemplate({ namespace: 'billing', steps: [{ name: 'one', handler: 'auth_two' }] });
let shopTask: string;
let billingTask: string;

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([shop, billing]);
  const create = async (namespace: string, name: string) =>
    (await h.call('POST', '/v1/tasks', { body: { namespace, name, context: {} } })).body.task.id as string;
  shopTask = await create('shop', shop.name);
  billingTask = await create('billing', billing.name);
});
afterAll(() => h.close());

type Probe = { name: string; method: string; path: () => string; body?: () => unknown };
const probes: Record<string, Probe> = {
  create: {
    name: 'create',
    method: 'POST',
    path: () => '/v1/tasks',
    body: () => ({ namespace: 'shop', name: shop.name, context: { n: Math.random() } }),
  },
  get: { name: 'get', method: 'GET', path: () => `/v1/tasks/${shopTask}` },
  list: { name: 'list', method: 'GET', path: () => '/v1/tasks' },
  templates: { name: 'templates', method: 'GET', path: () => '/v1/templates' },
  // A retry of a step that is not failed: authorized callers get 409, the others 401/403.
  retry: {
    name: 'retry',
    method: 'POST',
    path: () => `/v1/tasks/${shopTask}/steps/one/retry`,
    body: () => ({}),
  },
};

// Which scope may call what: ok means the request got past auth (2xx, or 409 for the retry).
const MATRIX: Record<string, Record<string, boolean>> = {
  'tasks:write': { create: true, get: false, list: false, templates: false, retry: false },
  'tasks:read': { create: false, get: true, list: true, templates: true, retry: false },
  operate: { create: false, get: false, list: false, templates: false, retry: true },
  admin: { create: true, get: true, list: true, templates: true, retry: true },
};

describe('the scope matrix', () => {
  for (const [scope, allowed] of Object.entries(MATRIX)) {
    it(`a key with ${scope} may call exactly what it should`, async () => {
      const key = await h.key([scope]);
      for (const probe of Object.values(probes)) {
        const response = await h.call(probe.method, probe.path(), {
          key,
          ...(probe.body ? { body: probe.body() } : {}),
        });
        const passed = response.status < 400 || response.status === 409;
        expect({ probe: probe.name, passed, status: response.status }).toEqual({
          probe: probe.name,
          passed: allowed[probe.name],
          status: passed ? response.status : 403,
        });
      }
    });
  }
});

describe('authentication', () => {
  it('answers a missing, malformed, unknown or revoked key with 401', async () => {
    const key = await h.key(['admin']);
    const missing = await h.call('GET', '/v1/tasks', { key: '' });
    expect(missing.status).toBe(401);
    // RFC 9110 §15.5.2: a 401 carries the challenge saying which scheme to answer with.
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="switchyard"');
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(
      (await h.call('GET', '/v1/tasks', { key: '', headers: { authorization: 'Basic abc' } })).status,
    ).toBe(401);
    expect((await h.call('GET', '/v1/tasks', { key: `${key}x` })).status).toBe(401);
    expect((await h.call('GET', '/v1/tasks', { key: '', headers: { 'x-api-key': key } })).status).toBe(200);
    await h.pool.query(
      'UPDATE api_keys SET revoked_at = now() WHERE key_hash = encode(sha256($1::bytea), $2)',
      [key, 'hex'],
    );
    const revoked = await h.call('GET', '/v1/tasks', { key });
    expect(revoked).toMatchObject({
      status: 401,
      body: { code: 'unauthorized', detail: expect.stringContaining('revoked') },
    });
  });

  it('refuses an expired key exactly like an unknown one', async () => {
    const { key } = await createApiKey(h.pool, {
      name: 'short-lived',
      scopes: ['admin'],
      createdBy: 'test',
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect((await h.call('GET', '/v1/tasks', { key })).status).toBe(200);
    await h.pool.query(
      "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_hash = encode(sha256($1::bytea), 'hex')",
      [key],
    );
    const expired = await h.call('GET', '/v1/tasks', { key });
    const unknown = await h.call('GET', '/v1/tasks', { key: `${key}x` });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe('Bearer realm="switchyard"');
    expect({ ...expired.body, instance: undefined }).toEqual({ ...unknown.body, instance: undefined });
  });

  it('makes keys only with a future expiry and non-empty namespace names', async () => {
    const make = (input: { namespaces?: string[]; expiresAt?: Date }) =>
      createApiKey(h.pool, { name: 'bad', scopes: ['tasks:read'], createdBy: 'test', ...input });
    await expect(make({ namespaces: [''] })).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: '/namespaces' })],
    });
    await expect(make({ namespaces: ['shop', ' '] })).rejects.toThrow(/invalid API key/);
    await expect(make({ expiresAt: new Date(Date.now() - 1000) })).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: '/expiresAt', rule: 'minimum' })],
    });
    await expect(make({ expiresAt: new Date(Number.NaN) })).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: '/expiresAt', rule: 'format' })],
    });
    const { rows } = await h.pool.query("SELECT count(*)::int AS n FROM api_keys WHERE name = 'bad'");
    expect(rows[0].n).toBe(0);
  });

  it('leaves health, docs and the OpenAPI document open', async () => {
    for (const path of ['/health/live', '/health/ready', '/openapi.json', '/docs', '/metrics']) {
      expect((await h.call('GET', path, { key: '' })).status).toBe(200);
    }
  });

  it('stores only a hash of each key', async () => {
    const key = await h.key(['tasks:read']);
    const { rows } = await h.pool.query('SELECT key_hash, prefix FROM api_keys');
    expect(rows.some((row) => row.key_hash === key)).toBe(false);
    expect(rows.some((row) => key.startsWith(`sy_${row.prefix}_`))).toBe(true);
  });
});

describe('namespace restrictions', () => {
  it('lets a key restricted to a namespace touch only that namespace', async () => {
    const key = await h.key(['admin'], ['shop']);
    expect((await h.call('GET', `/v1/tasks/${shopTask}`, { key })).status).toBe(200);
    const create = await h.call('POST', '/v1/tasks', {
      key,
      body: { namespace: 'billing', name: billing.name, context: {} },
    });
    expect(create.status).toBe(403);

    const list = await h.call('GET', '/v1/tasks', { key });
    expect(new Set(list.body.tasks.map((t: { namespace: string }) => t.namespace))).toEqual(
      new Set(['shop']),
    );
    expect((await h.call('GET', '/v1/tasks?namespace=billing', { key })).status).toBe(403);
    const templates = await h.call('GET', '/v1/templates', { key });
    expect(templates.body.templates.map((t: { namespace: string }) => t.namespace)).toEqual(['shop']);
    expect((await h.call('GET', `/v1/templates/billing/${billing.name}`, { key })).status).toBe(403);
    const breaker = await h.call('POST', '/v1/breakers/svc/open', { key, body: { reason: 'maintenance' } });
    expect(breaker.status).toBe(403);
    expect((await h.call('GET', `/v1/tasks/${billingTask}`)).body.status).toBe('pending');
  });
});

describe("another namespace's task", () => {
  const unknownId = '00000000-0000-4000-8000-000000000000';
  const perTask = (id: string): [string, string, unknown?][] => [
    ['GET', `/v1/tasks/${id}`],
    ['GET', `/v1/tasks/${id}/transitions`],
    ['GET', `/v1/tasks/${id}/attempts`],
    ['GET', `/v1/tasks/${id}/steps/one/attempts`],
    ['POST', `/v1/tasks/${id}/cancel`, { reason: 'probe' }],
    ['POST', `/v1/tasks/${id}/steps/one/retry`, { reason: 'probe' }],
    ['POST', `/v1/tasks/${id}/steps/one/resolve`, { reason: 'probe' }],
  ];

  it('is answered exactly like an unknown id on every per-task route, naming no namespace', async () => {
    const key = await h.key(['admin'], ['shop']);
    const before = await h.rowCounts();
    const routes = perTask(billingTask);
    for (const [i, [method, path, body]] of routes.entries()) {
      const other = await h.call(method, path, { key, ...(body ? { body } : {}) });
      const [, unknownPath] = perTask(unknownId)[i]!;
      const unknown = await h.call(method, unknownPath, { key, ...(body ? { body } : {}) });
      expect({ path, status: other.status }).toEqual({ path, status: 404 });
      const strip = (b: Record<string, unknown>) => ({ ...b, detail: undefined, instance: undefined });
      expect(strip(other.body)).toEqual(strip(unknown.body));
      expect(other.body.detail).toBe(`task ${billingTask} does not exist`);
      expect(JSON.stringify(other.body)).not.toContain('billing');
    }
    expect(await h.rowCounts()).toEqual(before);
    expect((await h.call('GET', `/v1/tasks/${billingTask}`)).body.status).toBe('pending');
  });
});

describe('an unknown template', () => {
  it("lists only the templates of the key's namespaces", async () => {
    const key = await h.key(['admin'], ['shop']);
    const created = await h.call('POST', '/v1/tasks', {
      key,
      body: { namespace: 'shop', name: 'no_such_template', context: {} },
    });
    expect(created.status).toBe(404);
    expect(created.body.detail).toContain(`shop/${shop.name}`);
    expect(created.body.detail).not.toContain('billing');
    const read = await h.call('GET', '/v1/templates/shop/no_such_template', { key });
    expect(read.status).toBe(404);
    expect(read.body.detail).toContain(`shop/${shop.name}`);
    expect(read.body.detail).not.toContain('billing');
    // An unrestricted key is told every registered template.
    const admin = await h.call('POST', '/v1/tasks', {
      body: { namespace: 'shop', name: 'no_such_template', context: {} },
    });
    expect(admin.body.detail).toContain(`billing/${billing.name}`);
  });
});

describe('switched off', () => {
  it('acts as an admin for every request only when explicitly disabled', async () => {
    const open = await createApiHarness({ authDisabled: true });
    try {
      const response = await open.call('GET', '/v1/tasks', { key: '' });
      expect(response.status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('protects /metrics when asked to', async () => {
    const locked = await createApiHarness({ metricsRequireKey: true });
    try {
      expect((await locked.call('GET', '/metrics', { key: '' })).status).toBe(401);
      expect((await locked.call('GET', '/metrics', { key: await locked.key(['tasks:read']) })).status).toBe(
        403,
      );
      expect((await locked.call('GET', '/metrics', { key: await locked.key(['operate']) })).status).toBe(200);
    } finally {
      await locked.close();
    }
  });
});
