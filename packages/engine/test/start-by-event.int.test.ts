import { defineTemplate, ValidationError } from '@switchyard/core';
import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTasksForEvent } from '../src/start-by-event.ts';
import { createEngineHarness, type EngineHarness } from './harness.ts';

let h: EngineHarness;
const deps = () => ({ pool: h.pool, dispatcher: h.dispatcher });
const signedUp = { email: 'ada@example.com' };

const template = (namespace: string, name: string, version: string, extra: object = {}) =>
  defineTemplate({
    namespace,
    name,
    version,
    default_dependent_system: 'svc',
    steps: [{ name: 'work', handler: 'trigger_work' }],
    ...extra,
  });

beforeAll(async () => {
  h = await createEngineHarness();
  await h.start(
    [defineStepHandler('trigger_work', (ctx) => ({ seen: ctx.task.context }))],
    [
      template('crm', 'welcome', '1.0.0', {
        triggers: [{ event: 'user.signed_up' }],
        context_schema: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
      }),
      template('billing', 'open_account', '1.0.0', { triggers: [{ event: 'user.signed_up' }] }),
      template('billing', 'audit', '1.0.0', { triggers: [{ event: 'user.deleted' }] }),
      // The latest version no longer listens: the event does not start the old one either.
      template('crm', 'legacy', '1.0.0', { triggers: [{ event: 'user.signed_up' }] }),
      template('crm', 'legacy', '2.0.0'),
    ],
  );
});
afterAll(() => h.close());

describe('tasks started by an event', () => {
  it('starts the latest version of every template that lists the event, with the payload as context', async () => {
    const created = await startTasksForEvent(deps(), { name: 'user.signed_up', payload: signedUp }, 'svc-a');
    expect(created.map((c) => `${c.template.namespace}/${c.template.name}@${c.template.version}`)).toEqual([
      'billing/open_account@1.0.0',
      'crm/welcome@1.0.0',
    ]);
    for (const { task } of created) {
      expect(await h.waitForTask(task.id)).toBe('complete');
      expect(task).toMatchObject({ context: signedUp, reason: 'event user.signed_up' });
    }
  });

  it('starts nothing new when the same event is posted again with its idempotency key', async () => {
    const event = {
      name: 'user.signed_up',
      payload: { email: 'bo@example.com' },
      idempotencyKey: 'signup-42',
    };
    const first = await startTasksForEvent(deps(), event, 'svc-a');
    const again = await startTasksForEvent(deps(), event, 'svc-a');
    expect(first.map((c) => c.duplicate)).toEqual([false, false]);
    expect(again.map((c) => [c.task.id, c.duplicate])).toEqual(first.map((c) => [c.task.id, true]));
  });

  it('starts none when one triggered template refuses the payload, naming the field and template', async () => {
    const before = await h.pool.query('SELECT count(*)::int AS n FROM tasks');
    const refused = await startTasksForEvent(
      deps(),
      { name: 'user.signed_up', payload: { name: 'x' } },
      'svc-a',
    ).catch((err) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused.issues).toEqual([
      expect.objectContaining({
        path: '/payload/email',
        rule: 'required',
        message: expect.stringContaining('crm/welcome@1.0.0'),
      }),
    ]);
    const after = await h.pool.query('SELECT count(*)::int AS n FROM tasks');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('keeps to the namespaces a caller may use, and starts nothing for an event no template lists', async () => {
    const limited = await startTasksForEvent(deps(), { name: 'user.signed_up', payload: signedUp }, 'svc-b', {
      namespaces: ['billing'],
    });
    expect(limited.map((c) => c.template.name)).toEqual(['open_account']);
    expect(await startTasksForEvent(deps(), { name: 'order.placed', payload: {} }, 'svc-b')).toEqual([]);
  });

  it('refuses a malformed name and the names of Switchyard’s own events', async () => {
    for (const [name, rule] of [
      ['signed up', 'pattern'],
      ['task.completed', 'reserved_event'],
    ]) {
      const err = await startTasksForEvent(deps(), { name: name!, payload: {} }, 'svc').catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.issues).toEqual([expect.objectContaining({ path: '/name', rule })]);
    }
  });
});
