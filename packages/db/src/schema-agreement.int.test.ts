/**
 * prisma/schema.prisma and prisma/migrations must describe the same database. `prisma migrate
 * diff` would say so, but its schema engine cannot run here; instead the migrations are applied
 * to a fresh database, its catalog is read, and the result is compared with what the schema
 * declares (read by test/schema-check/prisma-schema.ts). A failure lists each difference as a
 * line.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { STEP_STATUSES, TASK_STATUSES } from '@switchyard/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareShapes } from '../test/schema-check/compare.ts';
import { expectedShape } from '../test/schema-check/expected-shape.ts';
import { introspectShape } from '../test/schema-check/introspect.ts';
import { parsePrismaSchema } from '../test/schema-check/prisma-schema.ts';
import type { SchemaShape } from '../test/schema-check/shape.ts';
import { createScratchDatabase } from '../test/scratch-database.ts';
import { applyMigrations } from './migrator.ts';

const SCHEMA_PATH = fileURLToPath(new URL('../../../prisma/schema.prisma', import.meta.url));

type MigratedDatabase = { client: pg.Client; close(): Promise<void> };

async function migratedDatabase(): Promise<MigratedDatabase> {
  const database = await createScratchDatabase('switchyard_agreement');
  await applyMigrations(database.url);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return {
    client,
    async close() {
      await client.end();
      await database.drop();
    },
  };
}

async function declaredShape(): Promise<SchemaShape> {
  return expectedShape(parsePrismaSchema(await readFile(SCHEMA_PATH, 'utf8')));
}

/**
 * Partial indexes, which schema.prisma cannot declare (its comments name them): their
 * migrations alone make them, so they are checked by their definitions rather than compared.
 */
const MIGRATION_ONLY_INDEXES: Readonly<Record<string, string>> = {
  tasks_running_id_idx:
    "CREATE INDEX tasks_running_id_idx ON public.tasks USING btree (id) WHERE (status = ANY (ARRAY['pending'::text, 'in_progress'::text]))",
};

async function comparableShape(client: pg.Client): Promise<SchemaShape> {
  const shape = await introspectShape(client);
  for (const name of Object.keys(MIGRATION_ONLY_INDEXES)) delete shape.indexes[name];
  return shape;
}

describe('schema.prisma and prisma/migrations', () => {
  let db: MigratedDatabase;
  beforeAll(async () => {
    db = await migratedDatabase();
  });
  afterAll(() => db?.close());

  it('declare the same tables, columns, indexes and foreign keys', async () => {
    expect(compareShapes(await declaredShape(), await comparableShape(db.client))).toEqual([]);
  });

  it('make the partial indexes that Prisma cannot declare', async () => {
    const { rows } = await db.client.query(
      'SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY($1) ORDER BY indexname',
      [Object.keys(MIGRATION_ONLY_INDEXES)],
    );
    expect(Object.fromEntries(rows.map((row) => [row.indexname, row.indexdef]))).toEqual(
      MIGRATION_ONLY_INDEXES,
    );
  });

  it('allow exactly the task and step statuses core declares', async () => {
    const allowed = async (constraint: string) => {
      const { rows } = await db.client.query(
        'SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = $1',
        [constraint],
      );
      return [...(rows[0].def as string).matchAll(/'([a-z_]+)'/g)].map((m) => m[1]).sort();
    };
    expect(await allowed('tasks_status_check')).toEqual([...TASK_STATUSES].sort());
    expect(await allowed('workflow_steps_status_check')).toEqual([...STEP_STATUSES].sort());
  });

  it('keep the CHECK constraints that Prisma cannot declare', async () => {
    const { rows } = await db.client.query(
      `SELECT conname FROM pg_constraint WHERE contype = 'c' AND connamespace = current_schema()::regnamespace
        ORDER BY conname`,
    );
    expect(rows.map((row) => row.conname)).toEqual([
      'api_keys_scopes_check',
      'circuit_breakers_forced_check',
      'circuit_breakers_kind_check',
      'circuit_breakers_state_check',
      'schedule_ticks_outcome_check',
      'schedules_catch_up_check',
      'schedules_overlap_check',
      'service_limit_changes_source_check',
      'service_limits_max_concurrent_check',
      'service_limits_rate_check',
      'step_attempts_outcome_check',
      'tasks_identity_strategy_check',
      'tasks_status_check',
      'webhook_deliveries_status_check',
      'webhook_delivery_attempts_outcome_check',
      'workflow_steps_attempts_check',
      'workflow_steps_convergence_check',
      'workflow_steps_on_breaker_open_check',
      'workflow_steps_status_check',
    ]);
  });
});

describe('the agreement check', () => {
  it('reports exactly the columns, indexes and foreign keys changed behind the schema', async () => {
    const db = await migratedDatabase();
    try {
      await db.client.query(`
        ALTER TABLE workers DROP COLUMN stopped_at;
        DROP INDEX tasks_correlation_id_idx;
        ALTER TABLE workflow_steps ALTER COLUMN claimed_by SET NOT NULL;
        ALTER TABLE workflow_steps ALTER COLUMN attempts DROP DEFAULT;
        ALTER TABLE workflow_step_edges DROP CONSTRAINT workflow_step_edges_to_step_id_fkey,
          ADD CONSTRAINT workflow_step_edges_to_step_id_fkey FOREIGN KEY (to_step_id) REFERENCES workflow_steps (id)
          ON DELETE RESTRICT ON UPDATE CASCADE;
        CREATE INDEX step_attempts_outcome_idx ON step_attempts (outcome) WHERE outcome <> 'success';`);

      expect(compareShapes(await declaredShape(), await comparableShape(db.client))).toEqual([
        'column workers.stopped_at: schema says nullable timestamp(3) with time zone, database lacks it',
        'column workflow_steps.attempts: schema says not null integer default 0, database has not null integer',
        'column workflow_steps.claimed_by: schema says nullable text, database has not null text',
        'foreign key workflow_step_edges_to_step_id_fkey: schema says workflow_step_edges (to_step_id) → workflow_steps (id) ' +
          'on delete CASCADE on update CASCADE, database has workflow_step_edges (to_step_id) → workflow_steps (id) ' +
          'on delete RESTRICT on update CASCADE',
        'index step_attempts_outcome_idx: database has index (btree, partial) on step_attempts (outcome), schema does not declare it',
        'index tasks_correlation_id_idx: schema says index on tasks (correlation_id), database lacks it',
      ]);
    } finally {
      await db.close();
    }
  });
});
