import { ConflictError, defineTemplate, NotFoundError, ValidationError } from '@switchyard/core';
import { listTaskTransitions, registerTemplate } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const signup = (identity: 'strict' | 'caller_key' | 'unique', version = '1.0.0') =>
  defineTemplate({
    namespace: 'accounts',
    name: `signup_${identity}`,
    version,
    default_dependent_system: 'user_service',
    identity_strategy: identity,
    context_schema: {
      type: 'object',
      required: ['email', 'plan'],
      properties: { email: { type: 'string', format: 'email' }, plan: { enum: ['free', 'pro'] } },
    },
    steps: [{ name: 'create_user_account' }],
  });

describe('task creation', () => {
  beforeAll(async () => {
    for (const identity of ['strict', 'caller_key', 'unique'] as const)
      await registerTemplate(h.pool, signup(identity));
  });

  it('creates the task, its steps and the initial transitions in one go', async () => {
    const { task, duplicate } = await h.create({
      namespace: 'accounts',
      name: 'signup_strict',
      context: { email: 'ada@example.com', plan: 'free' },
      initiator: 'signup-form',
      sourceSystem: 'web',
      reason: 'new user',
      tags: ['signup'],
      priority: 5,
    });
    expect(duplicate).toBe(false);
    expect(task).toMatchObject({
      status: 'pending',
      initiator: 'signup-form',
      sourceSystem: 'web',
      tags: ['signup'],
      priority: 5,
    });
    expect(task.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    const steps = await h.steps(task.id);
    expect(steps).toMatchObject([{ name: 'create_user_account', status: 'enqueued', attempts: 0 }]);
    const { rows } = await h.pool.query(
      'SELECT from_status, to_status, actor FROM task_transitions WHERE task_id = $1',
      [task.id],
    );
    expect(rows).toEqual([{ from_status: null, to_status: 'pending', actor: 'test' }]);
  });

  it("shows each step's creation in the audit, derived from the step and its task, once", async () => {
    const chain = testTemplate({
      identity_strategy: 'unique',
      steps: [
        { name: 'first', handler: 'audit_noop' },
        { name: 'second', handler: 'audit_noop', depends_on: ['first'] },
      ],
    });
    await registerTemplate(h.pool, chain);
    const runAt = new Date(Date.now() + 3_600_000);
    const { task } = await h.create({ namespace: 'test', name: chain.name, context: {}, runAt });
    const created = (actor: string) => [
      { kind: 'task', step: null, from: null, to: 'pending', reason: 'created', actor },
      {
        kind: 'step',
        step: 'first',
        from: null,
        to: 'enqueued',
        reason: `created; no dependencies; not before ${runAt.toISOString()}`,
        actor,
      },
      { kind: 'step', step: 'second', from: null, to: 'pending', reason: 'created', actor },
    ];
    const trail = await listTaskTransitions(h.pool, task.id);
    expect(trail).toMatchObject(created('test'));
    expect(trail).toHaveLength(3);
    // Stored as a task created before the creation rows were derived: shown once, as stored.
    await h.pool.query(
      `INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
       SELECT id, task_id, NULL, 'pending', 'created', 'stored' FROM workflow_steps WHERE task_id = $1 AND name = 'second'`,
      [task.id],
    );
    const stored = await listTaskTransitions(h.pool, task.id);
    expect(stored).toHaveLength(3);
    expect(stored.find((row) => row.step === 'second')).toMatchObject({ to: 'pending', actor: 'stored' });
  });

  it('rejects a bad context with one message per failing field, and creates nothing', async () => {
    const before = await h.pool.query('SELECT count(*)::int AS n FROM tasks');
    const error = await h
      .create({
        namespace: 'accounts',
        name: 'signup_strict',
        context: { email: 'not-an-email', plan: 'gold' },
      })
      .catch((err) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '/email', rule: 'format' }),
        expect.objectContaining({ path: '/plan', rule: 'enum' }),
      ]),
    );
    const missing = await h
      .create({ namespace: 'accounts', name: 'signup_strict', context: { plan: 'free' } })
      .catch((e) => e);
    expect((missing as ValidationError).issues).toEqual([
      expect.objectContaining({ path: '/email', rule: 'required' }),
    ]);
    const after = await h.pool.query('SELECT count(*)::int AS n FROM tasks');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('names the unknown template and lists what exists', async () => {
    const error = await h.create({ namespace: 'accounts', name: 'nope', context: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toContain('accounts/nope');
    expect(error.message).toContain('accounts/signup_strict@1.0.0');
  });

  it('strict identity: the same context returns the first task; another context makes a new one', async () => {
    const request = {
      namespace: 'accounts',
      name: 'signup_strict',
      context: { plan: 'pro', email: 'bo@example.com' },
    };
    const first = await h.create(request);
    const again = await h.create({ ...request, context: { email: 'bo@example.com', plan: 'pro' } });
    const other = await h.create({ ...request, context: { email: 'cy@example.com', plan: 'pro' } });
    expect(again).toMatchObject({ duplicate: true, task: { id: first.task.id } });
    expect(other.duplicate).toBe(false);
    expect(other.task.id).not.toBe(first.task.id);
  });

  it('caller key identity: the same key returns the first task even with another context; no key is refused', async () => {
    const base = { namespace: 'accounts', name: 'signup_caller_key' };
    const first = await h.create({
      ...base,
      context: { email: 'di@example.com', plan: 'free' },
      idempotencyKey: 'k-1',
    });
    const again = await h.create({
      ...base,
      context: { email: 'ed@example.com', plan: 'free' },
      idempotencyKey: 'k-1',
    });
    expect(again).toMatchObject({
      duplicate: true,
      task: { id: first.task.id, identityStrategy: 'caller_key' },
    });
    const missing = await h
      .create({ ...base, context: { email: 'di@example.com', plan: 'free' } })
      .catch((e) => e);
    expect(missing).toBeInstanceOf(ValidationError);
    expect(missing.issues).toEqual([
      {
        path: '/idempotency_key',
        rule: 'required',
        message:
          "template accounts/signup_caller_key deduplicates by the caller's key; send an idempotency key",
      },
    ]);
  });

  it('unique identity: the same context twice makes two tasks', async () => {
    const request = {
      namespace: 'accounts',
      name: 'signup_unique',
      context: { email: 'fa@example.com', plan: 'free' },
    };
    const first = await h.create(request);
    const second = await h.create(request);
    expect(second.duplicate).toBe(false);
    expect(second.task.id).not.toBe(first.task.id);
  });

  it('refuses to register the same version with different content, and accepts the same content again', async () => {
    await expect(registerTemplate(h.pool, signup('strict'))).resolves.toMatchObject({ created: false });
    const changed = { ...signup('strict'), description: 'changed' };
    await expect(registerTemplate(h.pool, changed)).rejects.toBeInstanceOf(ConflictError);
    await expect(registerTemplate(h.pool, signup('strict', '1.1.0'))).resolves.toMatchObject({
      created: true,
    });
    const latest = await h.create({
      namespace: 'accounts',
      name: 'signup_strict',
      context: { email: 'gu@example.com', plan: 'free' },
    });
    expect(latest.template.version).toBe('1.1.0');
  });

  it('accepts a version stored before a newer release added a defaulted field to the document', async () => {
    const template = signup('strict', '2.0.0');
    await registerTemplate(h.pool, template);
    // As an older release stored it: without on_breaker_open, and hashed without it.
    await h.pool.query(
      `UPDATE named_tasks SET content_hash = 'older-release',
              definition = jsonb_set(definition, '{steps,0}', (definition->'steps'->0) - 'on_breaker_open')
        WHERE name = 'signup_strict' AND version = '2.0.0'`,
    );
    await expect(registerTemplate(h.pool, template)).resolves.toMatchObject({ created: false });
    await expect(registerTemplate(h.pool, { ...template, description: 'changed' })).rejects.toBeInstanceOf(
      ConflictError,
    );
  });
});
