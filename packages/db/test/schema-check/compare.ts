import { describeColumn, describeForeignKey, describeIndex, type SchemaShape } from './shape.ts';

/**
 * Every difference between what schema.prisma declares and what the database has, one readable
 * line each (e.g. `column workers.stopped_at: schema says nullable timestamp(3) with time zone,
 * database lacks it`), sorted. Empty when they agree.
 */
export function compareShapes(schema: SchemaShape, database: SchemaShape): string[] {
  return [
    ...compareTables(schema, database),
    ...compareIndexes(schema, database),
    ...compareForeignKeys(schema, database),
  ].sort();
}

function compareTables(schema: SchemaShape, database: SchemaShape): string[] {
  const lines: string[] = [];
  for (const table of union(schema.tables, database.tables)) {
    const declared = schema.tables[table];
    const actual = database.tables[table];
    if (!actual) lines.push(`table ${table}: schema declares it, database lacks it`);
    else if (!declared) lines.push(`table ${table}: database has it, schema does not declare it`);
    else {
      for (const column of union(declared, actual)) {
        const want = declared[column] ? describeColumn(declared[column]) : null;
        const have = actual[column] ? describeColumn(actual[column]) : null;
        lines.push(...difference(`column ${table}.${column}`, want, have));
      }
    }
  }
  return lines;
}

function compareIndexes(schema: SchemaShape, database: SchemaShape): string[] {
  return [...union(schema.indexes, database.indexes)].flatMap((name) => {
    const want = schema.indexes[name];
    const have = database.indexes[name];
    // A table missing on either side is reported once, as the table.
    if (!(schema.tables[(want ?? have)!.table] && database.tables[(want ?? have)!.table])) return [];
    return difference(
      `${(want ?? have)!.kind} ${name}`,
      want ? describeIndex(want) : null,
      have ? describeIndex(have) : null,
    );
  });
}

function compareForeignKeys(schema: SchemaShape, database: SchemaShape): string[] {
  return [...union(schema.foreignKeys, database.foreignKeys)].flatMap((name) => {
    const want = schema.foreignKeys[name];
    const have = database.foreignKeys[name];
    return difference(
      `foreign key ${name}`,
      want ? describeForeignKey(want) : null,
      have ? describeForeignKey(have) : null,
    );
  });
}

function difference(subject: string, want: string | null, have: string | null): string[] {
  if (want === have) return [];
  if (have === null) return [`${subject}: schema says ${want}, database lacks it`];
  if (want === null) return [`${subject}: database has ${have}, schema does not declare it`];
  return [`${subject}: schema says ${want}, database has ${have}`];
}

function union(a: object, b: object): Set<string> {
  return new Set([...Object.keys(a), ...Object.keys(b)]);
}
