/**
 * Reads the {@link SchemaShape} of the current schema of a database from pg_catalog (rather
 * than information_schema, which has neither index definitions nor typmods in printable form).
 */
import type pg from 'pg';
import type { ColumnShape, ForeignKeyShape, IndexShape, SchemaShape } from './shape.ts';

/** Prisma's own bookkeeping table, which schema.prisma never declares. */
const IGNORED_TABLES = new Set(['_prisma_migrations']);

const COLUMNS_SQL = `
SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
 ORDER BY c.relname, a.attnum`;

// Key columns only (INCLUDE columns are past indnkeyatts); expression entries have attnum 0.
const INDEXES_SQL = `
SELECT t.relname AS table, i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
       am.amname || CASE WHEN x.indpred IS NOT NULL THEN ', partial' ELSE '' END
                 || CASE WHEN x.indexprs IS NOT NULL THEN ', expression' ELSE '' END AS method,
       ARRAY(SELECT a.attname::text
               FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
              WHERE k.ord <= x.indnkeyatts ORDER BY k.ord) AS columns
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = i.relam
 WHERE n.nspname = current_schema()`;

const FOREIGN_KEYS_SQL = `
SELECT con.conname AS name, t.relname AS table, r.relname AS ref_table,
       con.confdeltype AS on_delete, con.confupdtype AS on_update,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns
  FROM pg_constraint con
  JOIN pg_class t ON t.oid = con.conrelid
  JOIN pg_class r ON r.oid = con.confrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE con.contype = 'f' AND n.nspname = current_schema()`;

// pg_constraint.confdeltype / confupdtype codes.
const ACTIONS: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

type Queryable = Pick<pg.ClientBase, 'query'>;

/** The tables, columns, indexes and foreign keys of the connection's current schema. */
export async function introspectShape(db: Queryable): Promise<SchemaShape> {
  // One after the other: a single pg client does not run queries concurrently.
  const columns = await db.query(COLUMNS_SQL);
  const indexes = await db.query(INDEXES_SQL);
  const foreignKeys = await db.query(FOREIGN_KEYS_SQL);
  const shape: SchemaShape = { tables: {}, indexes: {}, foreignKeys: {} };
  for (const row of columns.rows.filter((r) => !IGNORED_TABLES.has(r.table))) {
    shape.tables[row.table] ??= {};
    shape.tables[row.table]![row.column] = columnShape(row);
  }
  for (const row of indexes.rows.filter((r) => !IGNORED_TABLES.has(r.table)))
    shape.indexes[row.name] = indexShape(row);
  for (const row of foreignKeys.rows) shape.foreignKeys[row.name] = foreignKeyShape(row);
  return shape;
}

function columnShape(row: { type: string; nullable: boolean; default: string | null }): ColumnShape {
  // SERIAL/BIGSERIAL defaults name their sequence; what matters is that there is one.
  const isSequence = row.default?.startsWith('nextval(') ?? false;
  return { type: row.type, nullable: row.nullable, default: isSequence ? 'autoincrement' : row.default };
}

function indexShape(row: {
  table: string;
  primary: boolean;
  unique: boolean;
  method: string;
  columns: string[];
}): IndexShape {
  const kind = row.primary ? 'primary key' : row.unique ? 'unique index' : 'index';
  return { table: row.table, columns: row.columns, kind, method: row.method };
}

function foreignKeyShape(row: {
  table: string;
  ref_table: string;
  columns: string[];
  ref_columns: string[];
  on_delete: string;
  on_update: string;
}): ForeignKeyShape {
  return {
    table: row.table,
    columns: row.columns,
    refTable: row.ref_table,
    refColumns: row.ref_columns,
    onDelete: ACTIONS[row.on_delete] ?? row.on_delete,
    onUpdate: ACTIONS[row.on_update] ?? row.on_update,
  };
}
