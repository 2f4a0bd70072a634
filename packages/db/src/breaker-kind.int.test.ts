import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webhookSystem } from '@switchyard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../test/scratch-database.ts';
import { breakerSystems, evaluateBreaker } from './breaker-state.ts';
import { applyMigrations } from './migrator.ts';
import { createPool, type Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';
import { createWebhook } from './webhooks.ts';

const MIGRATIONS = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));
const KIND_MIGRATION = '20261205030000_breaker_kind';
const LEGACY_WEBHOOK = webhookSystem('0b6f8a52-4a1e-4b8e-9a59-3f1f6f2f2a10');

let scratch: ScratchDatabase;
let pool: Pool;

beforeAll(async () => {
  // The migrations before the kind, then breaker rows as the previous release wrote them (no
  // kind), then the rest: the backfill is what gives the old rows their kind.
  scratch = await createScratchDatabase('switchyard_breaker_kind');
  const before = await mkdtemp(join(tmpdir(), 'migrations-before-kind-'));
  try {
    for (const name of (await readdir(MIGRATIONS)).filter((name) => name < KIND_MIGRATION)) {
      await cp(join(MIGRATIONS, name), join(before, name), { recursive: true });
    }
    await applyMigrations(scratch.url, { migrationsDir: before });
  } finally {
    await rm(before, { recursive: true, force: true });
  }
  pool = createPool(scratch.url, { max: 2, application: 'breaker-kind-test' });
  await pool.query(
    `INSERT INTO circuit_breakers (dependent_system, policy) VALUES ('billing', '{}'), ($1, '{}')`,
    [LEGACY_WEBHOOK],
  );
  await applyMigrations(scratch.url);
});

afterAll(async () => {
  await pool?.end();
  await scratch?.drop();
});

const kinds = async () =>
  Object.fromEntries(
    (await breakerSystems(pool)).map(({ dependentSystem, kind }) => [dependentSystem, kind]),
  );

describe('the kind of a breaker', () => {
  it('is backfilled from the names of the rows the previous release wrote', async () => {
    expect(await kinds()).toEqual({ billing: 'step', [LEGACY_WEBHOOK]: 'webhook' });
  });

  it('is webhook for the breaker a new webhook gets, step for a system a step calls', async () => {
    const webhook = await withTransaction(pool, (client) =>
      createWebhook(client, {
        url: 'http://receiver.example/hooks',
        events: ['task.completed'],
        namespaces: null,
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        createdBy: 'test',
      }),
    );
    await withTransaction(pool, (client) =>
      evaluateBreaker(client, { dependentSystem: 'email', actor: 'test' }),
    );
    expect(await kinds()).toMatchObject({ email: 'step', [webhookSystem(webhook.id)]: 'webhook' });
  });

  it('is one of the declared kinds', async () => {
    await expect(
      pool.query(`INSERT INTO circuit_breakers (dependent_system, kind, policy) VALUES ('x', 'queue', '{}')`),
    ).rejects.toThrow(/circuit_breakers_kind_check/);
  });
});
