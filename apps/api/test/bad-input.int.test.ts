/**
 * Property-based bad input on every write endpoint: whatever arrives, the answer is never a
 * 500, an error is always a problem document, and a refused request changes nothing.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

let h: ApiHarness;
let taskId: string;
const flow = apiTemplate({
  context_schema: {
    type: 'object',
    required: ['email'],
    properties: { email: { type: 'string', format: 'email' }, age: { type: 'integer', minimum: 0 } },
  },
  steps: [
    { name: 'a', handler: 'bad_a' },
    { name: 'b', handler: 'bad_b', depends_on: ['a'] },
  ],
});

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([flow]);
  const created = await h.call('POST', '/v1/tasks', {
    body: { namespace: 'shop', name: flow.name, context: { email: 'x@example.com' } },
  });
  taskId = created.body.task.id;
});
afterAll(() => h.close());

const RUNS = Number(process.env.PROPERTY_RUNS ?? 120);

// Strings that break naive storage: NUL, lone surrogates, long runs, JSON-ish text.
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '../../etc',
    "'; DROP TABLE tasks; --",
    '{"$ref":"#"}',
    'x'.repeat(5000),
  ),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    nasty,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nasty, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const validBody = () => ({ namespace: 'shop', name: flow.name, context: { email: 'x@example.com' } });
const createBodies = fc.oneof(
  json,
  // A valid body with one field replaced by anything, or one extra field.
  fc
    .record({
      key: fc.constantFrom(
        'namespace',
        'name',
        'version',
        'context',
        'correlationId',
        'tags',
        'priority',
        'reason',
      ),
      value: json,
    })
    .map(({ key, value }) => ({ ...validBody(), [key]: value })),
  fc.record({ key: nasty, value: json }).map(({ key, value }) => ({ ...validBody(), [key]: value })),
  // A context that breaks its schema in some way.
  fc.record({ email: json, age: json }).map((context) => ({ ...validBody(), context })),
);

/** encodeURIComponent, or null for text no client can put in a URL (lone surrogates). */
function segment(text: string): string | null {
  try {
    return encodeURIComponent(text);
  } catch {
    return null;
  }
}

async function expectSafe(method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const before = await h.rowCounts();
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await h.call(method, path, { body: raw, headers });
  expect(response.status, `${method} ${path} ${raw.slice(0, 200)}`).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body).toMatchObject({
      status: response.status,
      code: expect.any(String),
      detail: expect.any(String),
    });
    expect(await h.rowCounts()).toEqual(before);
  }
  return response;
}

describe('bad input never yields a 500 or a partial write', () => {
  it('POST /v1/tasks', async () => {
    await fc.assert(
      fc.asyncProperty(createBodies, fc.option(nasty, { nil: undefined }), async (body, idempotencyKey) => {
        const headers: Record<string, string> = {};
        // Header values must be ByteStrings to be sent at all; fetch refuses the rest client-side.
        if (idempotencyKey !== undefined && /^[\x20-\x7e]*$/.test(idempotencyKey))
          headers['idempotency-key'] = idempotencyKey;
        await expectSafe('POST', '/v1/tasks', body, headers);
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /v1/tasks with raw text that is rarely JSON', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json().map((text) => text.slice(0, -1)),
        ),
        async (text) => {
          await expectSafe('POST', '/v1/tasks', text);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the operator endpoints, with any task id, step name and body', async () => {
    const ids = fc.oneof(
      fc.constant(() => taskId),
      fc.uuid().map((id) => () => id),
      nasty.map((s) => () => s),
    );
    const steps = fc.oneof(fc.constantFrom('a', 'b', 'ghost'), nasty);
    const ops = fc.constantFrom('cancel', 'steps/{step}/retry', 'steps/{step}/resolve');
    await fc.assert(
      fc.asyncProperty(ids, steps, ops, json, async (id, step, op, body) => {
        const [idPart, stepPart] = [segment(id()), segment(step)];
        if (idPart === null || stepPart === null) return;
        const path = `/v1/tasks/${idPart}/${op.replace('{step}', stepPart)}`;
        // Only refusals are interesting here: a valid cancel would end the shared task.
        if (op === 'cancel' && id() === taskId && (body === null || typeof body === 'object')) return;
        if (op.endsWith('resolve') && id() === taskId && ['a', 'b'].includes(step)) return;
        await expectSafe('POST', path, body);
      }),
      { numRuns: RUNS },
    );
  });

  it('the breaker endpoints', async () => {
    await fc.assert(
      fc.asyncProperty(nasty, fc.string(), json, async (system, action, body) => {
        const [systemPart, actionPart] = [segment(system), segment(action)];
        if (systemPart === null || actionPart === null) return;
        const path = `/v1/breakers/${systemPart}/${actionPart}`;
        await expectSafe('POST', path, body);
      }),
      { numRuns: RUNS },
    );
  });

  it('query strings of GET /v1/tasks', async () => {
    const keys = fc.constantFrom(
      'namespace',
      'status',
      'limit',
      'cursor',
      'createdAfter',
      'createdBefore',
      'correlationId',
      'other',
    );
    await fc.assert(
      fc.asyncProperty(fc.dictionary(keys, nasty, { maxKeys: 3 }), async (query) => {
        const response = await h.call('GET', `/v1/tasks?${new URLSearchParams(query)}`);
        expect(response.status, JSON.stringify(query)).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('numbers JSON cannot hold', () => {
  // JSON.parse reads 1e400 as Infinity: it must be refused, not stored as null or hashed into a 500.
  const uniqueFlow = apiTemplate({ identity_strategy: 'unique', steps: [{ name: 'u', handler: 'bad_u' }] });
  const strictFlow = apiTemplate({ identity_strategy: 'strict', steps: [{ name: 's', handler: 'bad_s' }] });
  beforeAll(() => h.register([uniqueFlow, strictFlow]));

  async function expectRefused(
    path: string,
    raw: string,
    pointer: string,
    headers: Record<string, string> = {},
  ) {
    const before = await h.rowCounts();
    const response = await h.call('POST', path, { body: raw, headers });
    expect(response.status, raw).toBe(400);
    expect(response.body).toMatchObject({
      code: 'validation_failed',
      errors: [expect.objectContaining({ path: pointer, rule: 'finite_number' })],
    });
    expect(await h.rowCounts()).toEqual(before);
  }

  const create = (name: string, context: string) =>
    `{"namespace":"shop","name":"${name}","context":${context}}`;

  it('a create with a strict, a unique and a caller-keyed identity', async () => {
    await expectRefused('/v1/tasks', create(strictFlow.name, '{"n":1e400}'), '/context/n');
    await expectRefused('/v1/tasks', create(uniqueFlow.name, '{"n":-1e400}'), '/context/n');
    await expectRefused(
      '/v1/tasks',
      create(flow.name, '{"email":"x@example.com","n":[1e400]}'),
      '/context/n/0',
      {
        'idempotency-key': 'finite-1',
      },
    );
    await expectRefused(
      '/v1/tasks',
      `{"namespace":"shop","name":"${flow.name}","priority":1e400}`,
      '/priority',
    );
  });

  it('a resolve with results', async () => {
    await expectRefused(`/v1/tasks/${taskId}/steps/a/resolve`, '{"results":{"n":1e400}}', '/results/n');
  });

  it('the largest finite numbers are stored as sent', async () => {
    const response = await h.call('POST', '/v1/tasks', {
      body: create(uniqueFlow.name, '{"n":1.7976931348623157e308,"m":-5e-324}'),
    });
    expect(response.status).toBe(201);
    const stored = await h.pool.query('SELECT context FROM tasks WHERE id = $1', [response.body.task.id]);
    expect(stored.rows[0].context).toEqual({ n: Number.MAX_VALUE, m: -5e-324 });
  });
});
