/**
 * The part of a Postgres schema that schema.prisma can declare, in one comparable form:
 * built from the Prisma schema (expected-shape.ts) and read from a database (introspect.ts).
 */

export type ColumnShape = {
  /** As Postgres's `format_type` prints it: `text`, `timestamp(3) with time zone`, `text[]`. */
  type: string;
  nullable: boolean;
  /** The default as `pg_get_expr` prints it, `autoincrement` for a sequence, null for none. */
  default: string | null;
};

/** A primary key, unique index or plain index, by its name. */
export type IndexShape = {
  table: string;
  columns: string[];
  kind: 'primary key' | 'unique index' | 'index';
  /** Access method (`btree`), plus `partial`/`expression` for what Prisma cannot declare. */
  method: string;
};

export type ForeignKeyShape = {
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  /** `CASCADE`, `RESTRICT`, `NO ACTION`, `SET NULL` or `SET DEFAULT`. */
  onDelete: string;
  onUpdate: string;
};

export type SchemaShape = {
  /** table → column → shape. */
  tables: Record<string, Record<string, ColumnShape>>;
  /** index or constraint name → shape. */
  indexes: Record<string, IndexShape>;
  foreignKeys: Record<string, ForeignKeyShape>;
};

/** `not null timestamp(3) with time zone default CURRENT_TIMESTAMP`. */
export function describeColumn(column: ColumnShape): string {
  const nullability = column.nullable ? 'nullable' : 'not null';
  return `${nullability} ${column.type}${column.default === null ? '' : ` default ${column.default}`}`;
}

/** `unique index on tasks (identity_hash)`, with the method when it is not a plain btree. */
export function describeIndex(index: IndexShape): string {
  const method = index.method === 'btree' ? '' : ` (${index.method})`;
  return `${index.kind}${method} on ${index.table} (${index.columns.join(', ')})`;
}

/** `workflow_steps (task_id) → tasks (id) on delete CASCADE on update CASCADE`. */
export function describeForeignKey(fk: ForeignKeyShape): string {
  return (
    `${fk.table} (${fk.columns.join(', ')}) → ${fk.refTable} (${fk.refColumns.join(', ')}) ` +
    `on delete ${fk.onDelete} on update ${fk.onUpdate}`
  );
}
