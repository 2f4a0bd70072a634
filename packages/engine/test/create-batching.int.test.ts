/**
 * Creates that arrive while a creation statement runs go to Postgres together, and each is
 * answered exactly as if the creates had run one after the other.
 */
import { connect, createServer, type Socket } from 'node:net';
import { defineTemplate, type IdentityStrategy, TaskCreateUnavailableError } from '@switchyard/core';
import { createPool, findTemplate, findTemplates, type Pool, registerTemplate } from '@switchyard/db';
import { waitFor } from '@switchyard/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreateTaskRequest, createTask } from '../src/create-task.ts';
import { creationsWaiting } from '../src/creation-batches.ts';
import { createEngineHarness, type EngineHarness } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
  for (const namespace of ['batched', 'alone'])
    for (const identity of ['strict', 'caller_key', 'unique'] as const)
      await registerTemplate(h.pool, signup(namespace, identity));
});
afterAll(() => h.close());

/** A diamond, so every created task has steps, edges and transitions to count. */
function signup(namespace: string, identity: IdentityStrategy) {
  return defineTemplate({
    namespace,
    name: `signup_${identity}`,
    version: '1.0.0',
    default_dependent_system: 'user_service',
    identity_strategy: identity,
    context_schema: {
      type: 'object',
      required: ['email'],
      properties: { email: { type: 'string', format: 'email' } },
    },
    steps: [
      { name: 'account', handler: 'batch_noop' },
      { name: 'billing', handler: 'batch_noop', depends_on: ['account'] },
      { name: 'preferences', handler: 'batch_noop', depends_on: ['account'] },
      { name: 'welcome', handler: 'batch_noop', depends_on: ['billing', 'preferences'] },
    ],
  });
}

/** The same creates, for either namespace: duplicates among them, and two refused before the insert. */
function requests(namespace: string): CreateTaskRequest[] {
  const create = (identity: IdentityStrategy, email: string, extra: Partial<CreateTaskRequest> = {}) => ({
    namespace,
    name: `signup_${identity}`,
    context: { email },
    ...extra,
  });
  return [
    create('strict', 'ada@example.com'),
    create('strict', 'ada@example.com'), // the same identity in the same batch
    create('strict', 'bo@example.com'),
    create('caller_key', 'cy@example.com', { idempotencyKey: 'k-1' }),
    create('caller_key', 'di@example.com', { idempotencyKey: 'k-1' }), // same key, other context
    create('strict', 'not-an-email'), // refused by the context schema
    { namespace, name: 'nope', context: {} }, // unknown template
    create('unique', 'ed@example.com', { retryKey: 'r-1' }),
    create('unique', 'ed@example.com', { retryKey: 'r-1' }), // a client's retry: answered as created
    create('unique', 'fa@example.com'),
    create('unique', 'fa@example.com'), // unique: a second task
    create('strict', 'prior@example.com'), // exists before the batch
    create('strict', 'ada@example.com'), // a third time
  ];
}

type Answer =
  | { error: string }
  | { duplicate: boolean; sameTaskAs: number; steps: number; edges: number; transitions: number };

/** What each create was answered, told without ids: which earlier answer's task it got, and what that task holds. */
type Created = Awaited<ReturnType<EngineHarness['create']>>;

async function answers(settled: PromiseSettledResult<Created>[]) {
  const ids = settled.map((s) => (s.status === 'fulfilled' ? s.value.task.id : null));
  return Promise.all(
    settled.map(async (s, i): Promise<Answer> => {
      if (s.status === 'rejected') return { error: (s.reason as Error).constructor.name };
      const { rows } = await h.pool.query(
        `SELECT (SELECT count(*)::int FROM workflow_steps WHERE task_id = $1) AS steps,
                (SELECT count(*)::int FROM workflow_step_edges WHERE task_id = $1) AS edges,
                (SELECT count(*)::int FROM step_transitions WHERE task_id = $1)
                  + (SELECT count(*)::int FROM task_transitions WHERE task_id = $1) AS transitions`,
        [s.value.task.id],
      );
      return { duplicate: s.value.duplicate, sameTaskAs: ids.indexOf(ids[i] ?? null), ...rows[0] };
    }),
  );
}

/**
 * Runs `batch` while two creation statements are held by a lock on `tasks`, so every create of
 * `batch` waits for the next statement, which then takes them all; `meanwhile` runs before the
 * lock is released. The creates are started one by one, each once the one before waits for the
 * statement (or failed before the insert), so they reach it in the order of `batch`.
 */
async function inOneBatch(
  batch: CreateTaskRequest[],
  create: (request: CreateTaskRequest) => Promise<Created> = h.create,
  pool: Pool = h.pool,
  meanwhile: () => Promise<void> = async () => {},
) {
  const lock: pg.PoolClient = await h.pool.connect();
  try {
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE tasks IN SHARE MODE');
    const held = ['held-1', 'held-2'].map((email) =>
      create({ namespace: 'batched', name: 'signup_unique', context: { email: `${email}@example.com` } }),
    );
    const heldSettled = Promise.allSettled(held);
    await waitFor('both creation statements to wait for the lock', async () => {
      const { rows } = await h.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO tasks%'`,
      );
      return rows[0].n === 2;
    });
    const settled: Promise<PromiseSettledResult<Created>>[] = [];
    for (const request of batch) {
      const waiting = creationsWaiting(pool);
      let refused = false;
      const created = create(request);
      created.catch(() => {
        refused = true;
      });
      settled.push(Promise.allSettled([created]).then(([result]) => result!));
      await waitFor('the create to wait for a statement', () => refused || creationsWaiting(pool) > waiting);
    }
    await meanwhile();
    await lock.query('COMMIT');
    return { held: await heldSettled, batch: await Promise.all(settled) };
  } finally {
    await lock.query('ROLLBACK').catch(() => {});
    lock.release();
  }
}

describe('batched task creation', () => {
  it('answers each create of one statement as if the creates had run one after the other', async () => {
    await h.create({ namespace: 'alone', name: 'signup_strict', context: { email: 'prior@example.com' } });
    await h.create({ namespace: 'batched', name: 'signup_strict', context: { email: 'prior@example.com' } });
    const sequential = [];
    for (const request of requests('alone'))
      sequential.push((await Promise.allSettled([h.create(request)]))[0]!);

    const batched = (await inOneBatch(requests('batched'))).batch;

    const expected = await answers(sequential);
    expect(await answers(batched)).toEqual(expected);
    expect(expected.filter((a) => 'duplicate' in a && !a.duplicate && a.steps === 4)).toHaveLength(7);
    // Every task the batch created was created by one statement: one transaction id.
    const created = batched.flatMap((s) => (s.status === 'fulfilled' && !s.value.duplicate ? [s.value] : []));
    const { rows } = await h.pool.query(
      'SELECT count(DISTINCT xmin::text)::int AS statements FROM tasks WHERE id = ANY($1)',
      [created.map((c) => c.task.id)],
    );
    expect(rows[0].statements).toBe(1);
    // Each created task's root step was dispatched (once: job ids are per step and attempt).
    const roots = await h.pool.query(
      `SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt
         FROM workflow_steps WHERE task_id = ANY($1) AND status = 'enqueued'`,
      [created.map((c) => c.task.id)],
    );
    expect(roots.rows).toHaveLength(new Set(created.map((c) => c.task.id)).size);
    expect(await h.dispatcher.findMissing(roots.rows)).toEqual([]);
  });

  it('a create Postgres refuses fails alone; the others of its statement are created once each', async () => {
    const refused = {
      namespace: 'batched',
      name: 'signup_unique',
      context: { email: 'ia@example.com', note: 'nul \u0000' },
    };
    const valid = (email: string) => ({ namespace: 'batched', name: 'signup_strict', context: { email } });
    const batch = [valid('gu@example.com'), refused, valid('gu@example.com'), valid('ha@example.com')];

    const settled = (await inOneBatch(batch)).batch;

    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: '22P05' } });
    const [first, again, other] = [settled[0], settled[2], settled[3]].map((s) => {
      if (s?.status !== 'fulfilled') throw new Error(`expected a task, got ${String(s?.reason)}`);
      return s.value;
    });
    expect(first).toMatchObject({ duplicate: false });
    expect(again).toMatchObject({ duplicate: true, task: { id: first?.task.id } });
    expect(other).toMatchObject({ duplicate: false });
    const { rows } = await h.pool.query(
      'SELECT count(*)::int AS n FROM workflow_steps WHERE task_id = ANY($1)',
      [[first?.task.id, other?.task.id]],
    );
    expect(rows[0].n).toBe(8);
  });

  it('looks up the templates of many creates in one statement, each as a lookup of its own would', async () => {
    await registerTemplate(h.pool, { ...signup('batched', 'strict'), version: '1.1.0' });
    const refs = [
      { namespace: 'batched', name: 'signup_strict' }, // the latest: 1.1.0
      { namespace: 'batched', name: 'signup_strict', version: '1.0.0' },
      { namespace: 'batched', name: 'nope' },
      { namespace: 'alone', name: 'signup_strict' },
      { namespace: 'batched', name: 'signup_strict' }, // asked twice
      { namespace: 'batched', name: 'signup_strict', version: '9.9.9' },
    ];
    const alone = [];
    for (const ref of refs) alone.push(await findTemplate(h.pool, ref));

    const together = await findTemplates(h.pool, refs);

    expect(together).toEqual(alone);
    expect(together.map((found) => found?.template.version ?? null)).toEqual([
      '1.1.0',
      '1.0.0',
      null,
      '1.0.0',
      '1.1.0',
      null,
    ]);
    expect(together[0]?.id).not.toBe(together[3]?.id);
  });

  it('Postgres lost: each create of a batch fails as one alone would, saying whether its task may exist', async () => {
    const proxy = postgresProxy();
    const database = (await h.pool.query('SELECT current_database() AS name')).rows[0].name;
    const pool = createPool(`postgresql://postgres@127.0.0.1:${await proxy.listen()}/${database}`, {
      max: 4,
    });
    pool.on('error', () => {});
    const create = (request: CreateTaskRequest) =>
      createTask({ pool, dispatcher: h.dispatcher }, request, 'test');
    const emails = ['lost-1', 'lost-2', 'lost-3'].map((name) => `${name}@example.com`);
    try {
      const { held, batch } = await inOneBatch(
        emails.map((email) => ({ namespace: 'batched', name: 'signup_strict', context: { email } })),
        create,
        pool,
        proxy.cut,
      );
      // The statements in flight had been sent: their tasks may exist.
      for (const result of held)
        expect(result).toMatchObject({ status: 'rejected', reason: { taskMayExist: true } });
      // The batch behind them never reached Postgres.
      for (const result of batch) {
        expect(result.status).toBe('rejected');
        const reason = (result as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(TaskCreateUnavailableError);
        expect(reason).toMatchObject({ taskMayExist: false, code: 'database_unavailable' });
      }
      const { rows } = await h.pool.query(
        `SELECT count(*)::int AS n FROM tasks WHERE context->>'email' = ANY($1)`,
        [emails],
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await pool.end();
    }
  });
});

/** A TCP proxy in front of Postgres; `cut` drops every connection and refuses new ones. */
function postgresProxy() {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(5432, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
      ),
    async cut() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
