import {
  generateWebhookSecret,
  PermanentError,
  signWebhook,
  webhookRequest,
  webhookSystem,
} from '@switchyard/core';
import {
  claimWebhookDeliveries,
  configureBreaker,
  createWebhook,
  deleteWebhook,
  fanOutEvents,
  forceBreaker,
  listBreakers,
  withTransaction,
} from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import {
  expectedWebhookSignature,
  startWebhookReceiver,
  type TestWebhookReceiver,
  waitFor,
} from '@switchyard/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sweepBreakers } from '../src/breaker-sweep.ts';
import { resolveStep } from '../src/operator-steps.ts';
import { type RunningWebhookDelivery, startWebhookDelivery } from '../src/webhook-delivery.ts';
import { createEngineHarness, type EngineHarness, testTemplate } from './harness.ts';

const logger = createLogger({ name: 'test', level: process.env.LOG_LEVEL ?? 'silent' });
const FAST = { delaysMs: [50, 100, 200], giveUpAfterMs: 3_600_000 };

let h: EngineHarness;
let secret = '';
let receiver: TestWebhookReceiver;
const running: RunningWebhookDelivery[] = [];

beforeAll(async () => {
  h = await createEngineHarness();
  receiver = await startWebhookReceiver({ secret: () => secret });
});
afterEach(async () => {
  for (const loop of running.splice(0)) await loop.stop();
  // Each test's webhooks end with it, so the next test's receiver counts only its own.
  const { rows } = await h.pool.query('SELECT id FROM webhooks WHERE deleted_at IS NULL');
  for (const row of rows) await withTransaction(h.pool, (client) => deleteWebhook(client, row.id));
  receiver.requests.length = 0;
  receiver.setDown(false);
});
afterAll(async () => {
  await receiver.close();
  await h.close();
});

function deliver(options: Partial<Parameters<typeof startWebhookDelivery>[0]> = {}) {
  const loop = startWebhookDelivery({
    pool: h.pool,
    logger,
    pollIntervalMs: 50,
    timeoutMs: 2_000,
    leaseMs: 3_000,
    schedule: FAST,
    // The receiver listens on 127.0.0.1 (webhook-private-targets.int.test.ts tests the refusal).
    allowPrivateTargets: true,
    ...options,
  });
  running.push(loop);
  return loop;
}

async function subscribe(events: string[], namespaces: string[] | null = null) {
  secret = generateWebhookSecret();
  return withTransaction(h.pool, (client) =>
    createWebhook(client, { url: receiver.url, events, namespaces, secret, createdBy: 'test' }),
  );
}

describe('signing', () => {
  it('signs "<id>.<timestamp>.<body>" with the decoded secret: a fixed vector', () => {
    // The Standard Webhooks reference vector (github.com/standard-webhooks/standard-webhooks).
    const signature = signWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('builds the request: webhook-id is the event id, the body { type, timestamp, data }', () => {
    const occurredAt = new Date('2026-12-04T10:00:00.000Z');
    const now = new Date('2026-12-04T10:00:05.900Z');
    const { headers, body } = webhookRequest(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      { id: 'e1', type: 'task.completed', occurredAt, data: { task_id: 't' } },
      now,
    );
    expect(JSON.parse(body)).toEqual({
      type: 'task.completed',
      timestamp: '2026-12-04T10:00:00.000Z',
      data: { task_id: 't' },
    });
    expect(headers['webhook-id']).toBe('e1');
    expect(headers['webhook-timestamp']).toBe('1796378405');
    expect(headers['webhook-signature']).toBe(
      expectedWebhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'e1', '1796378405', body),
    );
  });
});

describe('the fan-out', () => {
  it('reads the log in numeric order, so paging never skips an event (positions 9 → 10, 99 → 100, ...)', async () => {
    const webhook = await subscribe(['user.counted']);
    await h.pool.query(
      `INSERT INTO events (type, data) SELECT 'user.counted', jsonb_build_object('i', i) FROM generate_series(1, 250) i`,
    );
    await waitFor('every event fanned out', async () => {
      await withTransaction(h.pool, (client) => fanOutEvents(client, { limit: 7 }));
      const { rows } = await h.pool.query(
        `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1`,
        [webhook.id],
      );
      const { rows: left } = await h.pool.query(
        `SELECT count(*)::int AS n FROM events e, event_consumers c
          WHERE (e.tx_id, e.position) > (c.tx_id, c.position)`,
      );
      return left[0].n === 0 && rows[0].n;
    });
    const { rows } = await h.pool.query(
      `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1`,
      [webhook.id],
    );
    expect(rows[0].n).toBe(250);
  });
});

describe('webhook delivery', () => {
  it('delivers task.completed of every task once at least, signed, with its task in the data', async () => {
    const webhook = await subscribe(['task.completed']);
    const template = testTemplate({ steps: [{ name: 'a', handler: 'wh_ok' }] });
    await h.start([defineStepHandler('wh_ok', () => ({ ok: true }))], [template]);
    const loop = deliver();
    const ids: string[] = [];
    const startedAt = Date.now();
    for (let i = 0; i < 50; i++) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { i } })).task.id);
    }
    await waitFor('every task.completed delivered', () => deliveredCount(webhook.id, 50));
    const elapsedMs = Date.now() - startedAt;
    const accepted = receiver.accepted();
    expect(accepted.every((r) => r.type === 'task.completed' && r.signatureValid)).toBe(true);
    expect(new Set(accepted.map((r) => r.data.task_id))).toEqual(new Set(ids));
    const { rows } = await h.pool.query(
      `SELECT status, count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 GROUP BY status`,
      [webhook.id],
    );
    expect(rows).toEqual([{ status: 'delivered', n: 50 }]);
    expect(loop.counts().delivered).toBe(50);
    const { rows: committed } = await h.pool.query(
      `SELECT e.id, e.occurred_at FROM events e WHERE e.type = 'task.completed' AND e.task_id = ANY($1)`,
      [ids],
    );
    const latencies = committed
      .map((e) => accepted.find((r) => r.id === e.id)!.receivedAt.getTime() - e.occurred_at.getTime())
      .sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    console.log(
      `[measure] 50 tasks created, run and their task.completed delivered in ${elapsedMs} ms; event → receiver p50 ${p(0.5)} ms, p99 ${p(0.99)} ms (poll 50 ms)`,
    );
  });

  it('[measure] two replicas share 1000 deliveries: each posted once, none missing', async () => {
    const webhook = await subscribe(['task.completed']);
    // Leases far longer than any attempt here: a second post could only come from a double claim.
    const loops = [
      deliver({ concurrency: 16, leaseMs: 30_000 }),
      deliver({ concurrency: 16, leaseMs: 30_000 }),
    ];
    const startedAt = Date.now();
    await h.pool.query(
      `INSERT INTO events (type, namespace, task_id, data)
       SELECT 'task.completed', 'test', gen_random_uuid(), '{}'::jsonb FROM generate_series(1, 1000)`,
    );
    await waitFor('1000 delivered', () => deliveredCount(webhook.id, 1000), 120_000);
    const seconds = (Date.now() - startedAt) / 1000;
    // SKIP LOCKED claims: no delivery was posted by both replicas.
    expect(receiver.requests).toHaveLength(1000);
    expect(new Set(receiver.requests.map((r) => r.id)).size).toBe(1000);
    const counts = loops.map((loop) => loop.counts().delivered);
    expect(counts[0]! + counts[1]!).toBe(1000);
    console.log(
      `[measure] 1000 deliveries in ${seconds.toFixed(2)} s: ${Math.round(1000 / seconds)}/s (two loops in one process, 16 in flight each, split ${counts.join('/')}, local receiver)`,
    );
  });

  it('delivers only subscribed types of the subscribed namespaces', async () => {
    const otherNamespace = await subscribe(['task.completed'], ['elsewhere']);
    const otherType = await subscribe(['task.failed']);
    const wanted = await subscribe(['task.completed'], ['test']);
    const template = testTemplate({ steps: [{ name: 'a', handler: 'wh_ok_ns' }] });
    await h.start([defineStepHandler('wh_ok_ns', () => ({ ok: true }))], [template]);
    deliver();
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
    await waitFor('the task.completed delivered', () => receiver.accepted().length >= 1);
    // One fan-out transaction inserted every match of the event: the others have none.
    const { rows } = await h.pool.query(
      `SELECT webhook_id FROM webhook_deliveries
        WHERE event_id IN (SELECT id FROM events WHERE task_id = $1)`,
      [task.id],
    );
    expect(rows.map((r) => r.webhook_id)).toEqual([wanted.id]);
    expect([otherNamespace.id, otherType.id]).not.toContain(wanted.id);
  });

  it('takes back the claims of a process that died mid-flight once their lease ends', async () => {
    const webhook = await subscribe(['task.completed']);
    const template = testTemplate({ steps: [{ name: 'a', handler: 'wh_ok_lease' }] });
    await h.start([defineStepHandler('wh_ok_lease', () => ({ ok: true }))], [template]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { i } })).task.id);
    }
    for (const id of ids) await h.waitForTask(id);
    await waitFor('the deliveries fanned out', async () => {
      await withTransaction(h.pool, (client) => fanOutEvents(client, { limit: 100 }));
      const { rows } = await h.pool.query(
        'SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1',
        [webhook.id],
      );
      return rows[0].n === 5;
    });
    // A process claims them all and dies before posting anything.
    const dead = await claimWebhookDeliveries(h.pool, {
      claimer: 'dead-process',
      limit: 100,
      leaseMs: 1_000,
    });
    expect(dead).toHaveLength(5);
    const { rows: leases } = await h.pool.query(
      'SELECT max(lease_expires_at) AS until FROM webhook_deliveries WHERE webhook_id = $1',
      [webhook.id],
    );
    deliver();
    await waitFor('the dead claims delivered by the survivor', () => deliveredCount(webhook.id, 5));
    expect(new Set(receiver.accepted().map((r) => r.data.task_id))).toEqual(new Set(ids));
    const { rows } = await h.pool.query(
      `SELECT claimed_by, min(started_at) AS first FROM webhook_delivery_attempts WHERE webhook_id = $1
        GROUP BY claimed_by`,
      [webhook.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].claimed_by).not.toBe('dead-process');
    // Nobody posted before the dead process's leases ended.
    expect(rows[0].first.getTime()).toBeGreaterThanOrEqual(leases[0].until.getTime());
  });

  it('an operator forcing the receiver breaker open holds its deliveries unattempted; closing it lets them go', async () => {
    const webhook = await subscribe(['task.completed']);
    const system = webhookSystem(webhook.id);
    const operator = { dependentSystem: system, actor: 'operator', reason: 'receiver maintenance' };
    await withTransaction(h.pool, (client) => forceBreaker(client, { ...operator, action: 'open' }));
    const template = testTemplate({ steps: [{ name: 'a', handler: 'wh_ok_forced' }] });
    await h.start([defineStepHandler('wh_ok_forced', () => ({ ok: true }))], [template]);
    const sweeping = sweepEvery(100);
    deliver();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { i } })).task.id);
    }
    await waitFor('the deliveries wait held', async () => {
      const { rows } = await h.pool.query(
        `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND held AND status = 'pending'`,
        [webhook.id],
      );
      return rows[0].n === 3;
    });
    const { rows: attempts } = await h.pool.query(
      'SELECT count(*)::int AS n FROM webhook_delivery_attempts WHERE webhook_id = $1',
      [webhook.id],
    );
    expect(attempts[0].n).toBe(0);
    expect(receiver.requests).toHaveLength(0);
    await withTransaction(h.pool, (client) => forceBreaker(client, { ...operator, action: 'reset' }));
    await waitFor('delivered after the reset', () => deliveredCount(webhook.id, 3));
    await sweeping.stop();
    expect(new Set(receiver.accepted().map((r) => r.data.task_id))).toEqual(new Set(ids));
  });

  it('holds a failing receiver behind its breaker, then delivers everything in order per task once it returns', async () => {
    const events = ['step.failed', 'task.failed', 'step.resolved', 'task.completed'];
    const webhook = await subscribe(events);
    const system = webhookSystem(webhook.id);
    await configureBreaker(h.pool, system, {
      ...(await policyOf(system)),
      consecutive_failures: 3,
      min_calls: 1000,
      open_ms: 300,
      open_max_ms: 600,
      open_jitter: 0,
      close_after_successes: 2,
      release_initial: 2,
    });
    const template = testTemplate({
      steps: [
        { name: 'charge', handler: 'wh_declined' },
        { name: 'notify', handler: 'wh_ok_after', depends_on: ['charge'] },
      ],
    });
    await h.start(
      [
        defineStepHandler('wh_declined', () =>
          Promise.reject(new PermanentError('declined', { errorCode: 'declined' })),
        ),
        defineStepHandler('wh_ok_after', () => ({ ok: true })),
      ],
      [template],
    );
    receiver.setDown(true);
    const sweeping = sweepEvery(100);
    deliver();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await h.create({ namespace: 'test', name: template.name, context: { i } })).task.id);
    }
    for (const id of ids) expect(await h.waitForTask(id)).toBe('error');
    for (const id of ids) {
      await resolveStep({ pool: h.pool, dispatcher: h.dispatcher }, id, 'charge', {
        actor: 'op',
        reason: 'test',
      });
    }
    for (const id of ids) expect(await h.waitForTask(id, ['complete'])).toBe('complete');
    await waitFor('the breaker opened', () => transitionsTo(system, 'open'));
    // Operators see it with the other breakers: its failed calls, and the deliveries it holds.
    const view = await waitFor('the breaker view shows held deliveries', async () => {
      const [breaker] = await listBreakers(h.pool, { dependentSystem: system });
      return breaker && breaker.heldSteps > 0 ? breaker : null;
    });
    expect(view.recent.failures).toBeGreaterThanOrEqual(3);
    const triedWhileDown = receiver.requests.length;
    receiver.setDown(false);
    await waitFor('all 40 events delivered', () => deliveredCount(webhook.id, 40), 90_000);
    await waitFor('the breaker closed', () => transitionsTo(system, 'closed'));
    await sweeping.stop();

    const states = (
      await h.pool.query('SELECT to_state FROM breaker_transitions WHERE dependent_system = $1 ORDER BY id', [
        system,
      ])
    ).rows.map((r) => r.to_state);
    expect(states[0]).toBe('open');
    expect(states).toContain('half_open');
    expect(states.at(-1)).toBe('closed');
    // The breaker stopped the calls: far fewer than 40 events × the retries of the schedule.
    expect(triedWhileDown).toBeLessThan(40);
    const accepted = receiver.accepted();
    expect(accepted.every((r) => r.signatureValid)).toBe(true);
    for (const id of ids) {
      expect(accepted.filter((r) => r.data.task_id === id).map((r) => r.type)).toEqual(events);
    }
    const { rows } = await h.pool.query(
      `SELECT status, count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 GROUP BY status`,
      [webhook.id],
    );
    expect(rows).toEqual([{ status: 'delivered', n: 40 }]);
  });
});

/** Whether `count` deliveries of the webhook are recorded delivered (the receiver answered 2xx before). */
async function deliveredCount(webhookId: string, count: number): Promise<boolean> {
  const { rows } = await h.pool.query(
    `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'delivered'`,
    [webhookId],
  );
  return rows[0].n >= count;
}

async function policyOf(system: string) {
  const { rows } = await h.pool.query('SELECT policy FROM circuit_breakers WHERE dependent_system = $1', [
    system,
  ]);
  return rows[0].policy;
}

async function transitionsTo(system: string, state: string): Promise<boolean> {
  const { rows } = await h.pool.query(
    'SELECT 1 FROM breaker_transitions WHERE dependent_system = $1 AND to_state = $2',
    [system, state],
  );
  return rows.length > 0;
}

/** The scheduler's breaker sweep, run every `ms` in the background (as the scheduler does). */
function sweepEvery(ms: number) {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sweepBreakers({ pool: h.pool, dispatcher: h.dispatcher, log: logger, actor: 'sweep' });
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
