import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Prisma } from '../generated/prisma/client.ts';
import { expectedShape } from './expected-shape.ts';
import { parsePrismaSchema, SchemaParseError } from './prisma-schema.ts';

const schemaSource = readFileSync(new URL('../../../../prisma/schema.prisma', import.meta.url), 'utf8');

describe('parsePrismaSchema', () => {
  it('reads every model and scalar field that Prisma generated the client from', () => {
    const models = parsePrismaSchema(schemaSource);
    const names = new Set(models.map((model) => model.name));
    const enums = Prisma as unknown as Record<string, Record<string, string>>;
    expect(models.map((model) => model.name).sort()).toEqual(Object.values(Prisma.ModelName).sort());
    for (const model of models) {
      const scalars = model.fields.filter((field) => !names.has(field.type)).map((field) => field.name);
      expect(scalars, model.name).toEqual(Object.keys(enums[`${model.name}ScalarFieldEnum`] ?? {}));
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
