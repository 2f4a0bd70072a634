import { describe, expect, it } from 'vitest';
import { listMigrations, type Migration } from '../src/migrator.ts';
import { checkMigrationCompatibility, splitStatements } from './migration-compatibility.ts';

const migration = (name: string, sql: string): Migration => ({ name, sql, checksum: '' });

const INITIAL = migration(
  '0_init',
  `CREATE TABLE "jobs" (
     "id" BIGSERIAL NOT NULL,
     "status" TEXT NOT NULL,
     "attempts" INTEGER NOT NULL DEFAULT 0,
     "code" VARCHAR(50),
     "note" TEXT,
     CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
   );
   ALTER TABLE "jobs" ADD CONSTRAINT "jobs_status_check" CHECK ("status" IN ('new', 'done'));`,
);

/** The rules broken by `sql` as the migration after INITIAL. */
function rulesOf(sql: string): string[] {
  return checkMigrationCompatibility([INITIAL, migration('1_next', sql)]).map((problem) => problem.rule);
}

describe('checkMigrationCompatibility', () => {
  it("passes this repository's migrations: each one works with the release before it", async () => {
    const migrations = await listMigrations();
    expect(migrations.length).toBeGreaterThan(1);
    expect(checkMigrationCompatibility(migrations)).toEqual([]);
  });

  it('accepts what only expands the schema', () => {
    expect(
      rulesOf(`
        ALTER TABLE "jobs" ADD COLUMN "owner" TEXT, ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE "jobs" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'a';
        ALTER TABLE "jobs" ADD CONSTRAINT "jobs_kind_check" CHECK ("kind" IN ('a', 'b'));
        CREATE UNIQUE INDEX "jobs_owner_key" ON "jobs"("owner");
        CREATE INDEX "jobs_status_idx" ON "jobs"("status");
        ALTER TABLE "jobs" ALTER COLUMN "attempts" TYPE BIGINT;
        ALTER TABLE "jobs" ALTER COLUMN "code" SET DATA TYPE TEXT;
        ALTER TABLE "jobs" ALTER COLUMN "status" SET DEFAULT 'new';
        ALTER TABLE "jobs" ALTER COLUMN "note" DROP NOT NULL;
        ALTER TABLE "jobs" DROP CONSTRAINT "jobs_status_check";
        ALTER TABLE "jobs" ADD CONSTRAINT "jobs_status_check" CHECK ("status" IN ('new', 'held', 'done'));
        CREATE TABLE "events" ("id" UUID NOT NULL, "job_id" BIGINT NOT NULL, CONSTRAINT "events_pkey" PRIMARY KEY ("id"));
        ALTER TABLE "events" ADD CONSTRAINT "events_job_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id");
        CREATE UNIQUE INDEX "events_job_key" ON "events"("job_id");
        UPDATE "jobs" SET "owner" = 'x; y' WHERE "owner" IS NULL;
        CREATE FUNCTION record_job() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO "events" ("id", "job_id") VALUES (gen_random_uuid(), NEW.id); RETURN NULL; END $$;
        CREATE TRIGGER "jobs_event" AFTER INSERT ON "jobs" FOR EACH ROW WHEN (NEW.status = 'done')
            EXECUTE FUNCTION record_job();
        CREATE VIEW "job_audit" AS SELECT "id", "status" FROM "jobs" UNION ALL SELECT "job_id", 'event' FROM "events";
      `),
    ).toEqual([]);
  });

  it.each([
    ['ALTER TABLE "jobs" DROP COLUMN "note";', /drops a column of jobs/],
    ['DROP TABLE "jobs";', /drops something the previous release may use \(DROP TABLE\)/],
    ['ALTER TABLE "jobs" RENAME COLUMN "note" TO "remark";', /renames something in jobs/],
    ['ALTER TABLE "jobs" RENAME TO "tasks";', /renames something in jobs/],
    ['ALTER INDEX "jobs_pkey" RENAME TO "jobs_id";', /renames something/],
    [
      'ALTER TABLE "jobs" ADD COLUMN "owner" TEXT NOT NULL;',
      /adds NOT NULL column jobs.owner without a default/,
    ],
    ['ALTER TABLE "jobs" ALTER COLUMN "note" SET NOT NULL;', /makes jobs.note NOT NULL/],
    ['ALTER TABLE "jobs" ALTER COLUMN "attempts" DROP DEFAULT;', /drops the default of jobs.attempts/],
    [
      'ALTER TABLE "jobs" ALTER COLUMN "attempts" TYPE SMALLINT;',
      /from INTEGER to SMALLINT, which is not a widening/,
    ],
    ['ALTER TABLE "jobs" ALTER COLUMN "code" TYPE VARCHAR(10);', /from VARCHAR\(50\) to VARCHAR\(10\)/],
    ['ALTER TABLE "jobs" ALTER COLUMN "note" TYPE INTEGER USING note::integer;', /from TEXT to INTEGER/],
    [
      `ALTER TABLE "jobs" DROP CONSTRAINT "jobs_status_check";
       ALTER TABLE "jobs" ADD CONSTRAINT "jobs_status_check" CHECK ("status" IN ('new'));`,
      /CHECK jobs_status_check no longer allows 'done'/,
    ],
    [
      'ALTER TABLE "jobs" ADD CONSTRAINT "jobs_note_check" CHECK (length("note") < 10);',
      /adds CHECK jobs_note_check on existing table jobs/,
    ],
    ['CREATE UNIQUE INDEX "jobs_note_key" ON "jobs"("note");', /adds a unique index on existing table jobs/],
    ['ALTER TABLE "jobs" DROP CONSTRAINT "jobs_pkey";', /drops constraint jobs_pkey/],
    ['DELETE FROM "jobs" WHERE "status" = \'done\';', /deletes rows/],
    [
      'CREATE TRIGGER t BEFORE INSERT ON "jobs" FOR EACH ROW EXECUTE FUNCTION f();',
      /a BEFORE trigger can change or refuse/,
    ],
    [
      'CREATE TRIGGER t AFTER INSERT ON "jobs" FOR EACH ROW EXECUTE FUNCTION existing_function();',
      /calls existing_function, which this migration does not create/,
    ],
    [
      'CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ LANGUAGE plpgsql;',
      /not a statement this check knows/,
    ],
    ['CREATE OR REPLACE VIEW "job_audit" AS SELECT "id" FROM "jobs";', /not a statement this check knows/],
  ])('refuses %s', (sql, rule) => {
    const rules = rulesOf(sql);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatch(rule);
  });

  it('lets the initial migration do anything, and names the migration and statement', () => {
    const init = migration('0_init', 'CREATE TABLE "a" ("x" TEXT); DROP TABLE "a";');
    expect(checkMigrationCompatibility([init])).toEqual([]);
    expect(checkMigrationCompatibility([INITIAL, migration('1_drop', 'DROP TABLE "jobs";')])).toEqual([
      {
        migration: '1_drop',
        statement: 'DROP TABLE "jobs"',
        rule: 'drops something the previous release may use (DROP TABLE)',
      },
    ]);
  });

  it('accepts a contraction marked as one, with its reason', () => {
    const marked =
      '-- switchyard:contract release 1.4 stopped reading jobs.note\nALTER TABLE "jobs" DROP COLUMN "note";';
    expect(rulesOf(marked)).toEqual([]);
    expect(rulesOf('-- switchyard:contract\nALTER TABLE "jobs" DROP COLUMN "note";')).toEqual([
      'a contract migration must say why the previous release no longer needs what it removes',
    ]);
  });
});

describe('splitStatements', () => {
  it('splits at semicolons outside strings, identifiers, comments and dollar quotes', () => {
    const sql = `-- a comment; not a statement
      INSERT INTO t VALUES ('a;b', 'it''s');
      /* block; comment */ CREATE FUNCTION f() RETURNS void AS $body$ BEGIN PERFORM 1; END $body$ LANGUAGE plpgsql;
      SELECT "odd;name" FROM t`;
    expect(splitStatements(sql).map((s) => s.replace(/\s+/g, ' '))).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s')",
      'CREATE FUNCTION f() RETURNS void AS $body$ BEGIN PERFORM 1; END $body$ LANGUAGE plpgsql',
      'SELECT "odd;name" FROM t',
    ]);
  });
});
