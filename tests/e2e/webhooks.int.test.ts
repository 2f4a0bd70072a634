import { verifyWebhook } from '@switchyard/client';
import { generateWebhookSecret } from '@switchyard/core';
import { createWebhook, withTransaction } from '@switchyard/db';
import { type ReceivedWebhook, startWebhookReceiver, type TestWebhookReceiver } from '@switchyard/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, recordedTemplate, spawnAppProcess, startFleet, waitFor } from './harness.ts';

const DEADLINE_MS = 120_000;

let fleet: Fleet;
let receiver: TestWebhookReceiver;
beforeEach(async () => {
  fleet = await startFleet();
}, DEADLINE_MS);
afterEach(async () => {
  await receiver?.close();
  await fleet.close();
}, DEADLINE_MS);

/**
 * Each delivery checked with verifyWebhook as it arrives (a refusal answers 400), each answer
 * held back `delayMs` so deliveries stay in flight.
 */
async function startReceiver(secret: string, delayMs: number): Promise<TestWebhookReceiver> {
  return startWebhookReceiver({
    secret: () => secret,
    delayMs,
    verify: (headers, body) => verifyWebhook(secret, headers, body),
  });
}

/** The task of a delivery verifyWebhook accepted, else null. */
const verifiedTaskId = (request: ReceivedWebhook) => (request.verified ? String(request.data.task_id) : null);

async function subscribe(delayMs: number) {
  const secret = generateWebhookSecret();
  receiver = await startReceiver(secret, delayMs);
  return withTransaction(fleet.pool, (client) =>
    createWebhook(client, {
      url: receiver.url,
      events: ['task.completed'],
      namespaces: null,
      secret,
      createdBy: 'e2e',
    }),
  );
}

async function deliveredCount(webhookId: string): Promise<number> {
  const { rows } = await fleet.pool.query(
    `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'delivered'`,
    [webhookId],
  );
  return rows[0].n;
}

describe('webhook deliveries survive the delivering process', () => {
  it('SIGKILL mid-flight: every task.completed reaches the receiver, valid, none missing', {
    timeout: 4 * DEADLINE_MS,
  }, async () => {
    const webhook = await subscribe(150);
    fleet.spawnWorker();
    const ids = await fleet.createTasks(recordedTemplate('hooked', 1), 50);
    const deliverer = (claimer: string) =>
      spawnAppProcess('tests/e2e/fixtures/webhook-deliverer.ts', {
        DATABASE_URL: fleet.databaseUrl,
        CLAIMER: claimer,
      });
    const doomed = deliverer('doomed');
    await waitFor('the first deliveries', async () => receiver.requests.length >= 10);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const { rows: orphaned } = await fleet.pool.query(
      `SELECT id FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending' AND claimed_by = 'doomed'`,
      [webhook.id],
    );
    // The kill landed mid-flight: the dead process held claims it never finished.
    expect(orphaned.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    const survivor = deliverer('survivor');
    try {
      await waitFor('all 50 delivered', async () => (await deliveredCount(webhook.id)) === 50, DEADLINE_MS);
      await fleet.waitForTasks(ids, DEADLINE_MS);
    } finally {
      // Its database is dropped after the test; left running, it would outlive the test run.
      survivor.child.kill('SIGTERM');
      await survivor.exited;
    }

    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect(new Set(receiver.requests.map(verifiedTaskId))).toEqual(new Set(ids));
    const { rows: retaken } = await fleet.pool.query(
      `SELECT DISTINCT a.claimed_by FROM webhook_delivery_attempts a WHERE a.delivery_id = ANY($1::bigint[])`,
      [orphaned.map((row) => row.id)],
    );
    expect(retaken.map((row) => row.claimed_by)).toEqual(['survivor']);
    const duplicates = receiver.requests.length - new Set(receiver.requests.map((r) => r.id)).size;
    console.log(
      `[measure] SIGKILL with ${orphaned.length} deliveries in flight: all 50 delivered ${Date.now() - killedAt} ms after the kill (lease 3000 ms), ${duplicates} received twice (deduplicated by webhook-id)`,
    );
  });

  it('the scheduler role process delivers (the loop starts with the scheduler)', {
    timeout: 2 * DEADLINE_MS,
  }, async () => {
    const webhook = await subscribe(0);
    fleet.spawnWorker();
    const ids = await fleet.createTasks(recordedTemplate('hooked_role', 1), 5);
    const scheduler = spawnAppProcess('apps/scheduler/src/main.ts', {
      DATABASE_URL: fleet.databaseUrl,
      REDIS_URL: fleet.redisServer.url,
      SWITCHYARD_QUEUE_PREFIX: 'e2e',
      LOG_LEVEL: 'warn',
      // The receiver listens on 127.0.0.1.
      SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    });
    try {
      await waitFor(
        '5 delivered by the scheduler process',
        async () => (await deliveredCount(webhook.id)) === 5,
      );
      expect(new Set(receiver.requests.map(verifiedTaskId))).toEqual(new Set(ids));
    } finally {
      scheduler.child.kill('SIGTERM');
      await scheduler.exited;
    }
  });

  it('200 tasks through a worker SIGKILL and a Redis FLUSHALL: every task.completed reaches the receiver, signed, none missing', {
    timeout: 4 * DEADLINE_MS,
  }, async () => {
    const webhook = await subscribe(0);
    const deliverer = spawnAppProcess('tests/e2e/fixtures/webhook-deliverer.ts', {
      DATABASE_URL: fleet.databaseUrl,
      CLAIMER: 'chaos',
    });
    let ids: string[] = [];
    const completed = async () => {
      const { rows } = await fleet.pool.query(
        `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'complete'`,
        [ids],
      );
      return rows[0].n as number;
    };
    try {
      // Each step runs long enough that the worker is always busy; the step timeout (and so the
      // lease) outlasts a loaded machine's stalls.
      const doomed = fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'doomed', SWITCHYARD_CONCURRENCY: '5' });
      ids = await fleet.createTasks(recordedTemplate('hooked_chaos', 2, 5_000), 200, { sleepMs: 50 });
      await waitFor(
        'some tasks to complete before the kill',
        async () => (await completed()) >= 30,
        DEADLINE_MS,
      );
      doomed.child.kill('SIGKILL');
      await doomed.exited;
      fleet.spawnWorker({ SWITCHYARD_WORKER_ID: 'survivor', SWITCHYARD_CONCURRENCY: '5' });
      await waitFor(
        'more tasks to complete before the flush',
        async () => (await completed()) >= 80,
        DEADLINE_MS,
      );
      await fleet.redis.flushall();
      const { rows: queued } = await fleet.pool.query(
        `SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt
           FROM workflow_steps WHERE task_id = ANY($1) AND status IN ('enqueued', 'waiting_retry')`,
        [ids],
      );
      const lost = (await fleet.dispatcher.findMissing(queued)).length;

      const validTaskIds = () => new Set(receiver.requests.filter((r) => r.verified).map(verifiedTaskId));
      await waitFor('a valid delivery for every task', async () => validTaskIds().size === 200, DEADLINE_MS);
      await fleet.waitForTasks(ids, DEADLINE_MS);
      await waitFor(
        'every delivery recorded as delivered',
        async () => (await deliveredCount(webhook.id)) === 200,
        DEADLINE_MS,
      );

      // Deduplicated by webhook-id: one event per task, each task's event at least once.
      const byId = new Map<string, string>();
      for (const r of receiver.requests) if (r.verified) byId.set(r.id, String(r.data.task_id));
      expect(receiver.requests.every((r) => r.verified)).toBe(true);
      expect(byId.size).toBe(200);
      expect(new Set(byId.values())).toEqual(new Set(ids));
      expect(validTaskIds()).toEqual(new Set(ids));
      // The kill landed mid-step, and the flush lost queued jobs: both happened mid-run.
      const { rows: expired } = await fleet.pool.query(
        `SELECT count(*)::int AS n FROM step_attempts WHERE task_id = ANY($1) AND worker_id = 'doomed' AND outcome = 'lease_expired'`,
        [ids],
      );
      expect(expired[0].n).toBeGreaterThan(0);
      expect(lost).toBeGreaterThan(0);

      const { rows: last } = await fleet.pool.query(
        `SELECT id, completed_at FROM tasks WHERE id = ANY($1) ORDER BY completed_at DESC LIMIT 1`,
        [ids],
      );
      const firstDelivery = Math.min(
        ...receiver.requests.filter((r) => r.data.task_id === last[0].id).map((r) => r.receivedAt.getTime()),
      );
      const duplicates = receiver.requests.length - byId.size;
      console.info(
        `[measure] 200 tasks through a worker SIGKILL (${expired[0].n} steps in flight) and a FLUSHALL (${lost} queued jobs lost): the last task's task.completed reached the receiver ${firstDelivery - last[0].completed_at.getTime()} ms after it completed; ${duplicates} received twice (deduplicated by webhook-id)`,
      );
    } finally {
      deliverer.child.kill('SIGKILL');
      await deliverer.exited;
    }
  });
});
