import {
  cancelTask as cancelTaskRow,
  evaluateBreaker,
  forceBreaker,
  readEvents,
  withTransaction,
} from '@switchyard/db';
import { defineStepHandler, PermanentError } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTask } from '../src/cancel-task.ts';
import { resolveStep } from '../src/operator-steps.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

const operator = { actor: 'operator', reason: 'test' };

type Filter = Parameters<typeof readEvents>[1];

/**
 * The log up to `count` events: events become readable once every transaction that began
 * before theirs has ended (any other database's too), so a reader waits for them.
 */
async function readAtLeast(filter: Filter, count: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const events = await readEvents(h.pool, filter);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function eventsOf(taskId: string, count = 1) {
  return readAtLeast({ taskId, limit: 100 }, count);
}

describe('lifecycle events in the outbox', () => {
  it('announces a completed task once, with its identity, in the same log as its transitions', async () => {
    const template = testTemplate({
      steps: [
        { name: 'a', handler: 'ev_ok' },
        { name: 'b', handler: 'ev_ok', depends_on: ['a'] },
      ],
    });
    await h.start([defineStepHandler('ev_ok', () => ({ ok: true }))], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('complete');

    const events = await eventsOf(task.id);
    expect(events.map((e) => e.type)).toEqual(['task.completed']);
    expect(events[0]).toMatchObject({
      namespace: 'test',
      taskId: task.id,
      correlationId: task.correlationId,
      data: {
        task_id: task.id,
        namespace: 'test',
        name: template.name,
        version: '1.0.0',
        status: 'complete',
        previous_status: 'in_progress',
      },
    });
    expect(events[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('announces a failed step before its failed task, and a manual resolution and the completion after it', async () => {
    const template = testTemplate({
      steps: [
        { name: 'charge', handler: 'ev_declined' },
        { name: 'notify', handler: 'ev_ok2', depends_on: ['charge'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('ev_declined', () =>
          Promise.reject(new PermanentError('card declined', { errorCode: 'declined' })),
        ),
        defineStepHandler('ev_ok2', () => ({ ok: true })),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    await resolveStep({ pool: h.pool, dispatcher: h.dispatcher }, task.id, 'charge', {
      ...operator,
      results: { paid_offline: true },
    });
    expect(await h.waitForTask(task.id, ['complete'])).toBe('complete');

    const events = await eventsOf(task.id, 4);
    expect(events.map((e) => e.type)).toEqual([
      'step.failed',
      'task.failed',
      'step.resolved',
      'task.completed',
    ]);
    expect(events[0]!.data).toMatchObject({
      step: 'charge',
      attempt: 1,
      error: { outcome: 'permanent_error', code: 'declined', message: 'card declined' },
    });
    expect(events[2]!.data).toMatchObject({
      step: 'charge',
      status: 'resolved_manually',
      previous_status: 'error',
      actor: 'operator',
      results: { paid_offline: true },
    });
  });

  it('announces a cancellation, and nothing for a cancellation that rolled back', async () => {
    const template = testTemplate({ steps: [{ name: 'wait', handler: 'ev_never' }] });
    // No worker serves ev_never: the task stays pending until cancelled.
    await h.start([defineStepHandler('ev_other', () => null)], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    const rolledBack = await withTransaction(h.pool, async (client) => {
      await cancelTaskRow(client, { taskId: task.id, actor: 'operator' });
      throw new Error('abandon the cancellation');
    }).catch((err: Error) => err);
    expect(rolledBack.message).toBe('abandon the cancellation');

    // The rolled-back cancellation began first: had it left an event, it would be read first.
    await cancelTask({ pool: h.pool, redis: h.redis, queuePrefix: h.prefix }, task.id, operator);
    const events = await eventsOf(task.id);
    expect(events.map((e) => e.type)).toEqual(['task.cancelled']);
    expect(events[0]!.data).toMatchObject({
      status: 'cancelled',
      previous_status: 'pending',
      reason: 'test',
    });
  });

  it('announces a breaker opening and closing, once per change', async () => {
    await h.pool.query(
      `INSERT INTO circuit_breakers (dependent_system, policy) VALUES ('ev_svc', '{"consecutive_failures": 1}')`,
    );
    await h.pool.query(
      `INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, started_at, finished_at, duration_ms)
       SELECT s.id, s.task_id, 99, 'ev_svc', 'test', 'timeout', clock_timestamp(), clock_timestamp(), 1
         FROM workflow_steps s LIMIT 1`,
    );
    const opened = await withTransaction(h.pool, (client) =>
      evaluateBreaker(client, { dependentSystem: 'ev_svc', actor: 'test' }),
    );
    expect(opened.state).toBe('open');
    await withTransaction(h.pool, (client) =>
      forceBreaker(client, {
        dependentSystem: 'ev_svc',
        action: 'open',
        actor: 'operator',
        reason: 'already open',
      }),
    );
    await withTransaction(h.pool, (client) =>
      forceBreaker(client, { dependentSystem: 'ev_svc', action: 'reset', actor: 'operator', reason: 'test' }),
    );
    const events = await readAtLeast({ types: ['breaker.opened', 'breaker.closed'], limit: 10 }, 2);
    expect(events.map((e) => [e.type, e.data.dependent_system, e.data.actor])).toEqual([
      ['breaker.opened', 'ev_svc', 'test'],
      ['breaker.closed', 'ev_svc', 'operator'],
    ]);
    expect(events.every((e) => e.taskId === null && e.namespace === null)).toBe(true);
  });
});

describe('reading the log', () => {
  it('never lets a transaction that commits late land behind a reader that moved on', async () => {
    const start = await readEvents(h.pool, { limit: 1000 });
    const after = start.at(-1)?.cursor ?? null;
    const types = ['test.early', 'test.late'];
    const early = await h.pool.connect();
    try {
      // `early` writes first (its transaction id is the lower) and commits last.
      await early.query('BEGIN');
      await early.query(`INSERT INTO events (type, data) VALUES ('test.early', '{}')`);
      await h.pool.query(`INSERT INTO events (type, data) VALUES ('test.late', '{}')`);

      // The committed later event waits: reading it now could skip the early one for ever.
      expect(await readEvents(h.pool, { after, types, limit: 10 })).toEqual([]);

      await early.query('COMMIT');
      const page = await readAtLeast({ after, types, limit: 10 }, 2);
      expect(page.map((e) => e.type)).toEqual(['test.early', 'test.late']);
      const rest = await readEvents(h.pool, { after: page[0]!.cursor, types, limit: 10 });
      expect(rest.map((e) => e.type)).toEqual(['test.late']);
    } finally {
      early.release();
    }
  });
});

describe('domain events published by handlers', () => {
  /** The domain events of a task, read once its final lifecycle event is readable. */
  async function published(taskId: string) {
    await readAtLeast({ taskId, types: ['task.completed', 'task.failed'], limit: 1 }, 1);
    const events = await readEvents(h.pool, { taskId, limit: 100 });
    return events
      .filter((e) => !e.type.startsWith('task.') && !e.type.startsWith('step.'))
      .map((e) => ({ type: e.type, attempt: e.data.attempt, payload: e.data.payload }));
  }

  it('commits each declared event with the attempt whose outcome matches its condition, once', async () => {
    let calls = 0;
    const template = testTemplate({
      steps: [
        {
          name: 'register',
          handler: 'ev_register',
          retry: { max_attempts: 3, backoff_base_ms: 10, jitter: false },
          publishes: [
            {
              name: 'user.registered',
              schema: { type: 'object', required: ['user_id'], properties: { user_id: { type: 'string' } } },
            },
            { name: 'user.register_attempted', when: 'always' },
            { name: 'user.register_failed', when: 'failure' },
            { name: 'user.register_abandoned', when: 'permanent_failure' },
          ],
        },
      ],
    });
    await h.start(
      [
        defineStepHandler('ev_register', (ctx) => {
          calls += 1;
          if (calls === 1) throw new Error('directory busy');
          ctx.publish('user.registered', { user_id: 'u-1' });
          return { created: true };
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('complete');

    const errorPayload = {
      error: { outcome: 'retryable_error', class: 'Error', code: null, message: 'directory busy' },
    };
    expect(await published(task.id)).toEqual([
      { type: 'user.register_attempted', attempt: 1, payload: errorPayload },
      { type: 'user.register_failed', attempt: 1, payload: errorPayload },
      { type: 'user.registered', attempt: 2, payload: { user_id: 'u-1' } },
      { type: 'user.register_attempted', attempt: 2, payload: { created: true } },
    ]);
    const [event] = await readEvents(h.pool, { taskId: task.id, types: ['user.registered'], limit: 10 });
    expect(event).toMatchObject({ namespace: 'test', correlationId: task.correlationId, taskId: task.id });
  });

  it('publishes permanent_failure events only when the step fails for good', async () => {
    const template = testTemplate({
      steps: [
        {
          name: 'charge',
          handler: 'ev_charge',
          publishes: [
            { name: 'payment.declined', when: 'permanent_failure' },
            { name: 'payment.taken', when: 'success' },
          ],
        },
      ],
    });
    await h.start(
      [
        defineStepHandler('ev_charge', (ctx) => {
          ctx.publish('payment.declined', { reason: 'card' });
          throw new PermanentError('declined', { errorCode: 'declined' });
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    expect(await published(task.id)).toEqual([
      { type: 'payment.declined', attempt: 1, payload: { reason: 'card' } },
    ]);
  });

  it('fails the attempt for good, publishing nothing, when a payload breaks its schema or is not declared', async () => {
    const template = testTemplate({
      steps: [
        {
          name: 'bad_payload',
          handler: 'ev_bad_payload',
          publishes: [{ name: 'user.registered', schema: { type: 'object', required: ['user_id'] } }],
        },
        { name: 'undeclared', handler: 'ev_undeclared' },
      ],
    });
    await h.start(
      [
        defineStepHandler('ev_bad_payload', (ctx) => {
          ctx.publish('user.registered', { name: 'no id' });
          return { ok: true };
        }),
        defineStepHandler('ev_undeclared', (ctx) => {
          ctx.publish('user.deleted', {});
          return { ok: true };
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    expect(await h.waitForTask(task.id)).toBe('error');
    const attempts = await h.attempts(task.id);
    expect(attempts.map((a) => [a.step, a.outcome, a.error_code]).sort()).toEqual([
      ['bad_payload', 'permanent_error', 'event_payload_invalid'],
      ['undeclared', 'permanent_error', 'event_not_declared'],
    ]);
    expect(await published(task.id)).toEqual([]);
  });
});
