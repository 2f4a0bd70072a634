/**
 * What `prisma migrate` would create for a parsed schema: table and column names after
 * `@map`/`@@map`, Postgres types, nullability, defaults, and Prisma's default names for primary
 * keys (`<table>_pkey`), unique indexes (`<table>_<cols>_key`), indexes (`<table>_<cols>_idx`)
 * and foreign keys (`<table>_<cols>_fkey`).
 */
import {
  type Attribute,
  type FieldDecl,
  type ModelDecl,
  parseArgs,
  parseFieldList,
  SchemaParseError,
  unquote,
} from './prisma-schema.ts';
import type { ColumnShape, ForeignKeyShape, IndexShape, SchemaShape } from './shape.ts';

const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Bytes: 'bytea',
};

// @db.<Name>(args) → format_type output. Names outside this table are refused.
const NATIVE_TYPES: Record<string, (args: string[]) => string> = {
  Uuid: () => 'uuid',
  Text: () => 'text',
  VarChar: ([n]) => (n ? `character varying(${n})` : 'character varying'),
  Char: ([n]) => `character(${n ?? 1})`,
  SmallInt: () => 'smallint',
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  Boolean: () => 'boolean',
  DoublePrecision: () => 'double precision',
  Real: () => 'real',
  Decimal: ([p, s]) => (p ? `numeric(${p},${s ?? 0})` : 'numeric'),
  JsonB: () => 'jsonb',
  Json: () => 'json',
  ByteA: () => 'bytea',
  Date: () => 'date',
  Timestamp: ([p]) => `timestamp${p ? `(${p})` : ''} without time zone`,
  Timestamptz: ([p]) => `timestamp${p ? `(${p})` : ''} with time zone`,
};

const FIELD_ATTRIBUTES = new Set(['@id', '@unique', '@default', '@map', '@relation', '@updatedAt']);
const REFERENTIAL_ACTIONS: Record<string, string> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT',
};
// Postgres truncates longer identifiers; Prisma's naming then differs, so require an explicit map.
const MAX_IDENTIFIER = 63;

/** The tables, indexes and foreign keys `prisma migrate` would create for `models`. */
export function expectedShape(models: ModelDecl[]): SchemaShape {
  const byName = new Map(models.map((model) => [model.name, model]));
  const shape: SchemaShape = { tables: {}, indexes: {}, foreignKeys: {} };
  for (const model of models) {
    const table = tableName(model);
    const scalars = model.fields.filter((field) => !byName.has(field.type));
    shape.tables[table] = Object.fromEntries(scalars.map((field) => [columnName(field), columnShape(field)]));
    for (const [name, index] of modelIndexes(model, table)) addUnique(shape.indexes, name, index, model);
    for (const field of model.fields.filter((f) => byName.has(f.type))) {
      const fk = foreignKey(model, field, byName);
      if (fk) addUnique(shape.foreignKeys, fk[0], fk[1], model);
    }
  }
  return shape;
}

function addUnique<T>(into: Record<string, T>, name: string, value: T, model: ModelDecl): void {
  if (name.length > MAX_IDENTIFIER) {
    throw new SchemaParseError(
      `model ${model.name}: "${name}" is longer than ${MAX_IDENTIFIER} characters; add map: "..."`,
    );
  }
  if (into[name]) throw new SchemaParseError(`model ${model.name}: two objects are named "${name}"`);
  into[name] = value;
}

function attribute(attributes: Attribute[], name: string): Attribute | undefined {
  return attributes.find((attr) => attr.name === name);
}

function tableName(model: ModelDecl): string {
  const map = attribute(model.attributes, '@@map');
  return map ? unquote(parseArgs(map.args).positional[0] ?? '') : model.name;
}

function columnName(field: FieldDecl): string {
  const map = attribute(field.attributes, '@map');
  return map ? unquote(parseArgs(map.args).positional[0] ?? '') : field.name;
}

function columnShape(field: FieldDecl): ColumnShape {
  for (const attr of field.attributes) {
    if (!FIELD_ATTRIBUTES.has(attr.name) && !attr.name.startsWith('@db.')) {
      throw new SchemaParseError(
        `line ${attr.line}: attribute ${attr.name} is not supported by the schema check`,
      );
    }
  }
  const type = columnType(field);
  // Prisma creates scalar-list columns without NOT NULL.
  return { type, nullable: field.optional || field.list, default: expectedDefault(field, type) };
}

function columnType(field: FieldDecl): string {
  const native = field.attributes.find((attr) => attr.name.startsWith('@db.'));
  let type = SCALAR_TYPES[field.type];
  if (native) {
    const render = NATIVE_TYPES[native.name.slice(4)];
    if (!render)
      throw new SchemaParseError(`line ${field.line}: ${native.name} is not supported by the schema check`);
    type = render(parseArgs(native.args).positional);
  }
  if (!type)
    throw new SchemaParseError(`line ${field.line}: type ${field.type} is not supported by the schema check`);
  return field.list ? `${type}[]` : type;
}

/** The default as pg_get_expr prints it for what Prisma's migration writes. */
function expectedDefault(field: FieldDecl, type: string): string | null {
  const attr = attribute(field.attributes, '@default');
  if (!attr) return null;
  const value = parseArgs(attr.args).positional[0] ?? '';
  const castType = type.replace(/\(.*?\)/, '');
  if (value === 'autoincrement()') return 'autoincrement';
  if (value === 'now()') return 'CURRENT_TIMESTAMP';
  if (value === 'uuid()' || value === 'cuid()') return null; // generated by the client, not the database
  if (value === 'true' || value === 'false') return value;
  if (value === '[]' && field.list) return `ARRAY[]::${castType}`;
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  if (/^-\d+(\.\d+)?$/.test(value)) return `'${value}'::${castType}`;
  const generated = /^dbgenerated\((.+)\)$/s.exec(value);
  if (generated) return unquote(generated[1]!);
  if (value.startsWith('"')) return `'${unquote(value).replaceAll("'", "''")}'::${castType}`;
  throw new SchemaParseError(`line ${field.line}: default ${value} is not supported by the schema check`);
}

/** Primary key, unique indexes and indexes of one model, with Prisma's default names. */
function modelIndexes(model: ModelDecl, table: string): [string, IndexShape][] {
  const columnOf = (field: string) => {
    const decl = model.fields.find((f) => f.name === field);
    if (!decl) throw new SchemaParseError(`model ${model.name}: no field ${field}`);
    return columnName(decl);
  };
  const found: [string, IndexShape][] = [];
  const add = (kind: IndexShape['kind'], fields: string[], map: string | undefined, suffix: string) => {
    const columns = fields.map(columnOf);
    const name = map ? unquote(map) : `${table}_${suffix === 'pkey' ? '' : `${columns.join('_')}_`}${suffix}`;
    found.push([name, { table, columns, kind, method: 'btree' }]);
  };
  for (const field of model.fields) {
    for (const attr of field.attributes.filter((a) => a.name === '@id' || a.name === '@unique')) {
      const args = checkedArgs(attr, ['map']);
      add(
        attr.name === '@id' ? 'primary key' : 'unique index',
        [field.name],
        args.named.map,
        attr.name === '@id' ? 'pkey' : 'key',
      );
    }
  }
  for (const attr of model.attributes) {
    const kind = blockIndexKind(attr);
    if (!kind) continue;
    const args = checkedArgs(attr, kind === 'index' ? ['map'] : ['map', 'name']);
    const suffix = { 'primary key': 'pkey', 'unique index': 'key', index: 'idx' }[kind];
    add(kind, parseFieldList(args.positional[0] ?? args.named.fields ?? ''), args.named.map, suffix);
  }
  return found;
}

function blockIndexKind(attr: Attribute): IndexShape['kind'] | null {
  if (attr.name === '@@id') return 'primary key';
  if (attr.name === '@@unique') return 'unique index';
  if (attr.name === '@@index') return 'index';
  if (attr.name === '@@map') return null;
  throw new SchemaParseError(
    `line ${attr.line}: attribute ${attr.name} is not supported by the schema check`,
  );
}

/** Parsed arguments, refusing named ones the check does not model (sort, type, where, ...). */
function checkedArgs(attr: Attribute, allowed: string[]) {
  const args = parseArgs(attr.args);
  for (const key of Object.keys(args.named)) {
    if (key !== 'fields' && !allowed.includes(key)) {
      throw new SchemaParseError(
        `line ${attr.line}: ${attr.name}(${key}: ...) is not supported by the schema check`,
      );
    }
  }
  return args;
}

/** The foreign key a relation field declares (the side with `fields:`), or null for the other side. */
function foreignKey(
  model: ModelDecl,
  field: FieldDecl,
  models: Map<string, ModelDecl>,
): [string, ForeignKeyShape] | null {
  const relation = attribute(field.attributes, '@relation');
  const args = relation
    ? checkedArgs(relation, ['fields', 'references', 'onDelete', 'onUpdate', 'map', 'name'])
    : null;
  if (!args?.named.fields) return null;
  const target = models.get(field.type)!;
  const fieldDecls = parseFieldList(args.named.fields).map(
    (name) => model.fields.find((f) => f.name === name)!,
  );
  const refDecls = parseFieldList(args.named.references ?? '').map(
    (name) => target.fields.find((f) => f.name === name)!,
  );
  if (fieldDecls.includes(undefined as never) || refDecls.includes(undefined as never)) {
    throw new SchemaParseError(`line ${field.line}: @relation names a field that does not exist`);
  }
  const table = tableName(model);
  const columns = fieldDecls.map(columnName);
  // Prisma's defaults: Restrict when every FK field is required, SetNull otherwise; Cascade on update.
  const onDelete = args.named.onDelete ?? (fieldDecls.some((f) => f.optional) ? 'SetNull' : 'Restrict');
  const shape: ForeignKeyShape = {
    table,
    columns,
    refTable: tableName(target),
    refColumns: refDecls.map(columnName),
    onDelete: referentialAction(onDelete, field),
    onUpdate: referentialAction(args.named.onUpdate ?? 'Cascade', field),
  };
  return [args.named.map ? unquote(args.named.map) : `${table}_${columns.join('_')}_fkey`, shape];
}

function referentialAction(action: string, field: FieldDecl): string {
  const sql = REFERENTIAL_ACTIONS[action];
  if (!sql) throw new SchemaParseError(`line ${field.line}: unknown referential action ${action}`);
  return sql;
}
