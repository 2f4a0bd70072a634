import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectedShape } from './expected-shape.ts';
import { parsePrismaSchema, SchemaParseError } from './prisma-schema.ts';

const schemaPath = fileURLToPath(new URL('../../../../prisma/schema.prisma', import.meta.url));
const schemaSource = readFileSync(schemaPath, 'utf8');

describe('parsePrismaSchema', () => {
  it('is a schema Prisma itself accepts', () => {
    // Prisma's own validator (a WebAssembly build inside its CLI; it needs no engine download).
    const output = execFileSync('pnpm', ['exec', 'prisma', 'validate', '--schema', schemaPath], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/dev/null',
      },
    });
    expect(output).toContain('is valid');
  }, 60_000);

  it('reads every model and every field line of the schema', () => {
    const models = parsePrismaSchema(schemaSource);
    const blocks = [...schemaSource.matchAll(/^model (\w+) \{\n([\s\S]*?)^\}/gm)];
    expect(models.map((model) => model.name)).toEqual(blocks.map((block) => block[1]));
    for (const [index, block] of blocks.entries()) {
      const fieldLines = (block[2] ?? '')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('//') && !line.startsWith('@@'));
      expect(models[index]?.fields.map((field) => field.name)).toEqual(
        fieldLines.map((line) => line.split(/\s+/)[0]),
      );
    }
  });

  it("applies Prisma's mapping, defaults and default names", () => {
    const shape = expectedShape(parsePrismaSchema(schemaSource));
    expect(shape.tables.workflow_steps?.lease_expires_at).toEqual({
      type: 'timestamp(3) with time zone',
      nullable: true,
      default: null,
    });
    expect(shape.tables.tasks?.tags).toEqual({ type: 'text[]', nullable: true, default: 'ARRAY[]::text[]' });
    expect(shape.tables.task_transitions?.id).toEqual({
      type: 'bigint',
      nullable: false,
      default: 'autoincrement',
    });
    expect(shape.tables.workflow_steps?.handler_config?.default).toBe(`'{}'::jsonb`);
    expect(shape.indexes.workflow_steps_status_next_attempt_at_idx).toEqual({
      table: 'workflow_steps',
      columns: ['status', 'next_attempt_at'],
      kind: 'index',
      method: 'btree',
    });
    expect(shape.indexes.workflow_step_edges_pkey?.columns).toEqual(['from_step_id', 'to_step_id']);
    expect(shape.foreignKeys.tasks_named_task_id_fkey).toMatchObject({
      refTable: 'named_tasks',
      onDelete: 'RESTRICT',
    });
    expect(shape.foreignKeys.workflow_steps_task_id_fkey).toMatchObject({
      onDelete: 'CASCADE',
      onUpdate: 'CASCADE',
    });
  });

  it('keeps // inside strings and honours map: arguments', () => {
    const shape = expectedShape(
      parsePrismaSchema(`
        model A {
          id  Int    @id(map: "a_primary") // trailing comment
          url String @default("http://x") @map("the_url")
          @@index([url], map: "a_by_url")
          @@map("as")
        }`),
    );
    expect(shape.tables.as?.the_url?.default).toBe(`'http://x'::text`);
    expect(Object.keys(shape.indexes).sort()).toEqual(['a_by_url', 'a_primary']);
  });

  it('refuses what it does not model instead of skipping it', () => {
    const shapeOf = (source: string) => () => expectedShape(parsePrismaSchema(source));
    expect(shapeOf('enum Colour {\n  RED\n}')).toThrow(/"enum" blocks are not supported/);
    expect(shapeOf('model A {\n  id Int @id @ignore\n}')).toThrow(/@ignore is not supported/);
    expect(shapeOf('model A {\n  id Int @id\n  @@index([id(sort: Desc)])\n}')).toThrow(SchemaParseError);
    expect(shapeOf('model A {\n  id Int @id\n  @@index([id], type: Hash)\n}')).toThrow(/type: \.\.\./);
    expect(shapeOf('model A {\n  id Int @id @db.Money\n}')).toThrow(/@db.Money is not supported/);
  });
});
