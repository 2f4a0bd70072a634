import { defineTemplate, type TaskTemplate } from '@switchyard/core';
import { configureServiceLimits } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { fairCountsKey, stepJobId } from '@switchyard/queue';
import { waitFor } from '@switchyard/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sweepLimits } from '../src/limit-sweep.ts';
import { createEngineHarness, type EngineHarness } from './harness.ts';

// One call of ledger_service at a time for the whole fleet: after the first call, every step
// waits for the limit, and each finish releases the next (the worker's release; no scheduler
// runs). The handler records which task started, in order, and holds its call until `open`.
let h: EngineHarness;
let started: string[] = [];
let open = false;

const HANDLER = 'ledger_post';
const templates = ['tenant_a', 'tenant_b'].map((namespace) => template(namespace));

function template(namespace: string): TaskTemplate {
  return defineTemplate({
    namespace,
    name: 'post_entry',
    version: '1.0.0',
    identity_strategy: 'unique',
    default_dependent_system: 'ledger_service',
    steps: [{ name: 'post', handler: HANDLER }],
  });
}

const handler = defineStepHandler<{ label: string }>(HANDLER, async (ctx) => {
  started.push(ctx.task.context.label);
  await waitFor('the test to let calls finish', () => open, 30_000);
  return { posted: true };
});

beforeEach(async () => {
  h = await createEngineHarness();
  started = [];
  open = false;
});
afterEach(async () => {
  open = true;
  await h.close();
});

const waiting = async () =>
  (
    await h.pool.query(
      `SELECT count(*)::int AS n FROM workflow_steps WHERE status = 'held' AND hold_reason IN ('concurrency', 'rate')`,
    )
  ).rows[0].n as number;

/**
 * Starts `first` (it takes the one slot), then creates the groups of `queued` in order, each
 * group waiting for the limit before the next is created (so a later group is held later); then
 * lets the calls finish, and returns the labels in the order the limit released them.
 */
async function releaseOrder(
  first: Entry,
  groups: Entry[][],
  namespaceWeights: Record<string, number> = {},
): Promise<string[]> {
  await configureServiceLimits(
    h.pool,
    { ledger_service: { maxConcurrent: 1, rate: null, burst: null } },
    'test',
  );
  await h.start([handler], templates, { concurrency: 4, namespaceWeights });
  await create(first);
  await waitFor('the first call to run', () => started.length === 1);
  let queued = 0;
  for (const group of groups) {
    for (const entry of group) await create(entry);
    queued += group.length;
    await waitFor(`${queued} steps waiting for the limit`, async () => (await waiting()) === queued);
  }
  open = true;
  await waitFor('every step started', () => started.length === queued + 1, 30_000);
  return started.slice(1);
}

type Entry = { label: string; namespace: string; priority?: number };

async function create({ label, namespace, priority }: Entry): Promise<void> {
  await h.create({ namespace, name: 'post_entry', context: { label }, priority: priority ?? 0 });
}

const entries = (count: number, namespace: string, prefix: string, priority = 0): Entry[] =>
  Array.from({ length: count }, (_, i) => ({ label: `${prefix}${i}`, namespace, priority }));

describe('the release of steps waiting for a limit', () => {
  it("shares the slot across namespaces: a second namespace's steps are not queued behind another's backlog", async () => {
    const order = await releaseOrder({ label: 'a-first', namespace: 'tenant_a' }, [
      entries(20, 'tenant_a', 'a'),
      entries(2, 'tenant_b', 'b'),
    ]);
    console.log(`[measure] release order, weights 1:1: ${order.join(',')}`);
    // Oldest first would release b0 and b1 21st and 22nd.
    expect(order.indexOf('b0')).toBeLessThan(4);
    expect(order.indexOf('b1')).toBeLessThan(4);
  });

  it('shares it by weight: with tenant_a 2 and tenant_b 1, two of tenant_a go for one of tenant_b', async () => {
    const order = await releaseOrder(
      { label: 'a-first', namespace: 'tenant_a' },
      [entries(12, 'tenant_a', 'a'), entries(6, 'tenant_b', 'b')],
      { tenant_a: 2, tenant_b: 1 },
    );
    console.log(`[measure] release order, weights 2:1: ${order.join(',')}`);
    const firstNine = order.slice(0, 9);
    expect(firstNine.filter((label) => label.startsWith('b'))).toHaveLength(3);
    expect(firstNine.filter((label) => label.startsWith('a'))).toHaveLength(6);
  });

  it('releases a higher task priority first within a namespace', async () => {
    const order = await releaseOrder({ label: 'first', namespace: 'tenant_a' }, [
      entries(4, 'tenant_a', 'low'),
      [{ label: 'urgent', namespace: 'tenant_a', priority: 5 }],
    ]);
    console.log(`[measure] release order by priority: ${order.join(',')}`);
    // Oldest first would release it last (the four others were held before it).
    expect(order[0]).toBe('urgent');
  });

  it("dispatches a released step with its task's namespace and priority", async () => {
    // A token per 1000 s: the first call takes the only one, the next two wait for the rate.
    await configureServiceLimits(
      h.pool,
      { ledger_service: { maxConcurrent: null, rate: 0.001, burst: 1 } },
      'test',
    );
    open = true;
    const worker = await h.start([handler], templates, { concurrency: 4 });
    await create({ label: 'first', namespace: 'tenant_a' });
    await waitFor('the first call to run', () => started.length === 1);
    await create({ label: 'b', namespace: 'tenant_b', priority: 7 });
    await create({ label: 'a', namespace: 'tenant_a', priority: -3 });
    await waitFor('two steps waiting for the rate', async () => (await waiting()) === 2);
    // Nobody takes the released jobs: they stay in the queue to be read.
    await worker.stop();

    await configureServiceLimits(
      h.pool,
      { ledger_service: { maxConcurrent: null, rate: 100, burst: 10 } },
      'test',
    );
    const log = createLogger({ name: 'test', level: 'silent' });
    const { released } = await sweepLimits({ pool: h.pool, dispatcher: h.dispatcher, log, actor: 'test' });
    expect(released).toBe(2);

    const { rows } = await h.pool.query(
      `SELECT s.id, s.attempts, t.context->>'label' AS label FROM workflow_steps s JOIN tasks t ON t.id = s.task_id
        WHERE s.status = 'enqueued'`,
    );
    const queue = h.dispatcher.queue(HANDLER);
    const fair: Record<string, string | undefined> = {};
    for (const row of rows)
      fair[row.label] = (await queue.getJob(stepJobId(row.id, row.attempts + 1)))?.data.fair;
    expect(fair).toEqual({ b: '7:tenant_b', a: '-3:tenant_a' });
    // Each counted as outstanding in its namespace and priority's round of the queue.
    expect(await h.redis.hgetall(fairCountsKey(h.prefix, queue.name))).toEqual({
      '7:tenant_b': '1',
      '-3:tenant_a': '1',
    });
  });
});
