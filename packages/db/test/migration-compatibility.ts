/**
 * Rolling upgrades apply a release's migrations while the previous release still runs, so every
 * migration after the first must leave the schema usable by the code of the release before it:
 * expand only (new tables and views, nullable columns or columns with defaults, indexes,
 * backfills, wider CHECK lists). This reads each migration.sql, statement by statement, keeps a model of the
 * tables, columns and CHECK constraints built so far, and reports every statement that could
 * break the previous release: dropping or renaming anything, a NOT NULL column without a
 * default, narrowing or changing a column's type, a new constraint or unique index that could
 * refuse the previous release's writes, deleting data.
 *
 * A contraction (dropping what the previous release no longer uses) is deliberate: the
 * migration says so on a line of its own, `-- switchyard:contract <why the previous release no
 * longer needs it>`, and is then reported only when that reason is missing.
 */
import type { Migration } from '../src/migrator.ts';

/** One statement that the previous release might not survive. */
export type CompatibilityProblem = { migration: string; statement: string; rule: string };

type Column = { type: string };
type Table = { columns: Map<string, Column>; createdIn: string };
type Check = { table: string; column: string | null; values: string[] | null };
type Model = { tables: Map<string, Table>; checks: Map<string, Check>; uniqueConstraints: Set<string> };

const CONTRACT_MARK = /^--\s*switchyard:contract\b(.*)$/m;

/** Checks every migration after the first (the initial schema has no previous release). */
export function checkMigrationCompatibility(migrations: readonly Migration[]): CompatibilityProblem[] {
  const model: Model = { tables: new Map(), checks: new Map(), uniqueConstraints: new Set() };
  const problems: CompatibilityProblem[] = [];
  migrations.forEach((migration, index) => {
    const found: CompatibilityProblem[] = [];
    const state = {
      migration: migration.name,
      addedColumns: new Set<string>(),
      droppedChecks: new Map<string, Check>(),
      createdFunctions: new Set<string>(),
    };
    for (const statement of splitStatements(migration.sql)) {
      for (const rule of applyStatement(model, state, statement)) {
        found.push({ migration: migration.name, statement: abbreviate(statement), rule });
      }
    }
    if (index === 0 || found.length === 0) return;
    const contract = CONTRACT_MARK.exec(migration.sql);
    if (!contract) problems.push(...found);
    else if (contract[1]!.trim() === '') {
      problems.push({
        migration: migration.name,
        statement: contract[0],
        rule: 'a contract migration must say why the previous release no longer needs what it removes',
      });
    }
  });
  return problems;
}

type MigrationState = {
  migration: string;
  addedColumns: Set<string>;
  droppedChecks: Map<string, Check>;
  /** Functions this migration creates (CREATE FUNCTION fails when one exists: nothing is replaced). */
  createdFunctions: Set<string>;
};

/** The rules this statement breaks (empty when compatible), after recording its effect on the model. */
function applyStatement(model: Model, state: MigrationState, statement: string): string[] {
  const upper = statement.toUpperCase();
  if (/^CREATE\s+TABLE\b/.test(upper)) return createTable(model, state, statement);
  if (/^ALTER\s+TABLE\b/.test(upper)) return alterTable(model, state, statement);
  if (/^CREATE\s+(UNIQUE\s+)?INDEX\b/.test(upper)) return createIndex(model, state, statement);
  if (/\bRENAME\b/.test(upper)) return ['renames something the previous release refers to by its old name'];
  if (/^DROP\s+/.test(upper))
    return [`drops something the previous release may use (${firstWords(statement, 2)})`];
  if (/^(DELETE|TRUNCATE)\b/.test(upper)) return ['deletes rows the previous release may still read'];
  // A new view (not OR REPLACE: that could change one the previous release reads) only adds a name.
  if (/^(UPDATE|INSERT|SELECT|COMMENT\s+ON|CREATE\s+(EXTENSION|SEQUENCE|SCHEMA|VIEW))\b/.test(upper))
    return [];
  if (/^CREATE\s+FUNCTION\b/.test(upper)) return createFunction(state, statement);
  if (/^CREATE\s+TRIGGER\b/.test(upper)) return createTrigger(state, statement);
  return [
    `not a statement this check knows to be additive (${firstWords(statement, 3)}): review it, or mark a contract`,
  ];
}

function createFunction(state: MigrationState, statement: string): string[] {
  const name = /^CREATE\s+FUNCTION\s+("?[\w.]+"?)/i.exec(statement)?.[1];
  if (!name) return ['CREATE FUNCTION this check cannot read'];
  state.createdFunctions.add(identifier(name));
  return [];
}

/**
 * A trigger runs on the previous release's writes too. An AFTER trigger sees a row once it is
 * written and cannot change it; calling a function this migration creates, it does only what
 * the migration shows (for instance, filling a new table). A BEFORE trigger can change or
 * refuse the previous release's writes.
 */
function createTrigger(state: MigrationState, statement: string): string[] {
  const match =
    /^CREATE\s+TRIGGER\s+\S+\s+(BEFORE|AFTER|INSTEAD\s+OF)\b[\s\S]*\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+("?[\w.]+"?)/i.exec(
      statement,
    );
  if (!match) return ['CREATE TRIGGER this check cannot read'];
  if (match[1]!.toUpperCase() !== 'AFTER') {
    return [`a ${match[1]!.toUpperCase()} trigger can change or refuse the previous release's writes`];
  }
  if (!state.createdFunctions.has(identifier(match[2]!))) {
    return [
      `the trigger calls ${identifier(match[2]!)}, which this migration does not create: review it, or mark a contract`,
    ];
  }
  return [];
}

function createTable(model: Model, state: MigrationState, statement: string): string[] {
  const match = /^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?("?[\w.]+"?)\s*\(([\s\S]*)\)\s*$/i.exec(
    statement,
  );
  if (!match) return ['CREATE TABLE this check cannot read'];
  const table: Table = { columns: new Map(), createdIn: state.migration };
  const name = identifier(match[1]!);
  for (const item of splitTopLevel(match[2]!)) {
    const constraint = /^CONSTRAINT\s+("?\w+"?)\s+(.*)$/is.exec(item);
    if (constraint) {
      recordConstraint(model, name, identifier(constraint[1]!), constraint[2]!);
      continue;
    }
    const column = /^("?\w+"?)\s+(.*)$/s.exec(item);
    if (column && !/^(PRIMARY|UNIQUE|CHECK|FOREIGN|EXCLUDE)\b/i.test(item)) {
      table.columns.set(identifier(column[1]!), { type: columnType(column[2]!) });
    }
  }
  model.tables.set(name, table);
  return [];
}

function alterTable(model: Model, state: MigrationState, statement: string): string[] {
  const match = /^ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?("?[\w.]+"?)\s+([\s\S]*)$/i.exec(statement);
  if (!match) return ['ALTER TABLE this check cannot read'];
  const name = identifier(match[1]!);
  const table = model.tables.get(name);
  const problems: string[] = [];
  for (const action of splitTopLevel(match[2]!))
    problems.push(...alterTableAction(model, state, name, table, action));
  return problems;
}

/** The rules one action of an ALTER TABLE breaks, after recording its effect on the model. */
function alterTableAction(
  model: Model,
  state: MigrationState,
  name: string,
  table: Table | undefined,
  action: string,
): string[] {
  const isNew = table?.createdIn === state.migration;
  const upper = action.toUpperCase();
  const addColumn = /^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?("?\w+"?)\s+(.*)$/is.exec(action);
  if (addColumn && !/^ADD\s+(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b/i.test(action)) {
    const column = identifier(addColumn[1]!);
    const definition = addColumn[2]!.toUpperCase();
    table?.columns.set(column, { type: columnType(addColumn[2]!) });
    state.addedColumns.add(`${name}.${column}`);
    const generatesValue = /\bDEFAULT\b|\bGENERATED\b|SERIAL\b/.test(definition);
    if (isNew || !/\bNOT\s+NULL\b/.test(definition) || generatesValue) return [];
    return [
      `adds NOT NULL column ${name}.${column} without a default: the previous release's inserts omit it`,
    ];
  }
  if (/^DROP\s+COLUMN\b/.test(upper))
    return [`drops a column of ${name} that the previous release may read or write`];
  if (/\bRENAME\b/.test(upper))
    return [`renames something in ${name} that the previous release refers to by its old name`];
  const alter = /^ALTER\s+(?:COLUMN\s+)?("?\w+"?)\s+(.*)$/is.exec(action);
  if (alter) return alterColumn(name, table, identifier(alter[1]!), alter[2]!, isNew);
  const add = /^ADD\s+CONSTRAINT\s+("?\w+"?)\s+(.*)$/is.exec(action);
  if (add) return addConstraint(model, state, name, isNew, identifier(add[1]!), add[2]!);
  const drop = /^DROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?("?\w+"?)/i.exec(action);
  if (drop) {
    const constraint = identifier(drop[1]!);
    const check = model.checks.get(constraint);
    model.checks.delete(constraint);
    // Dropping a CHECK only lets more rows in; a key or unique constraint may back the
    // previous release's ON CONFLICT or joins.
    if (check) {
      state.droppedChecks.set(constraint, check);
      return [];
    }
    return [`drops constraint ${constraint} of ${name}, which the previous release may rely on`];
  }
  if (/^(ADD\s+(PRIMARY|UNIQUE|CHECK|FOREIGN)|DROP\b)/.test(upper)) {
    return isNew
      ? []
      : [`${firstWords(action, 2)} on existing table ${name} may refuse the previous release's writes`];
  }
  if (/^(SET\s+\(|RESET\s+\(|ENABLE\b|DISABLE\b|VALIDATE\s+CONSTRAINT\b|OWNER\s+TO\b)/.test(upper)) return [];
  return [`ALTER TABLE ${name} ${firstWords(action, 3)}: not known to be additive`];
}

function alterColumn(
  tableName: string,
  table: Table | undefined,
  column: string,
  change: string,
  isNew: boolean,
): string[] {
  const upper = change.toUpperCase().trim();
  if (isNew || /^(SET\s+DEFAULT|DROP\s+NOT\s+NULL|SET\s+STATISTICS|SET\s+STORAGE)\b/.test(upper)) return [];
  if (/^SET\s+NOT\s+NULL\b/.test(upper))
    return [`makes ${tableName}.${column} NOT NULL: the previous release may write NULL`];
  if (/^DROP\s+DEFAULT\b/.test(upper))
    return [`drops the default of ${tableName}.${column}: the previous release's inserts omit it`];
  const type = /^(?:SET\s+DATA\s+)?TYPE\s+(.*?)(?:\s+USING\b.*)?$/is.exec(change.trim());
  if (type) {
    const before = table?.columns.get(column)?.type;
    const after = columnType(type[1]!);
    if (table?.columns.has(column)) table.columns.set(column, { type: after });
    if (before && widens(before, after)) return [];
    return [
      `changes the type of ${tableName}.${column} from ${before ?? 'an unknown type'} to ${after}, which is not a widening`,
    ];
  }
  return [`ALTER COLUMN ${tableName}.${column} ${firstWords(change, 2)}: not known to be additive`];
}

function addConstraint(
  model: Model,
  state: MigrationState,
  table: string,
  isNew: boolean,
  name: string,
  definition: string,
): string[] {
  recordConstraint(model, table, name, definition);
  if (isNew) return [];
  const kind = definition.trim().split(/\s+/)[0]!.toUpperCase();
  const columns = columnsIn(definition, model.tables.get(table));
  const onlyNewColumns =
    columns.length > 0 && columns.every((column) => state.addedColumns.has(`${table}.${column}`));
  // The previous release never writes a column added now; its rows get the default, which
  // this statement validates while the migration runs.
  if (onlyNewColumns) return [];
  if (kind === 'CHECK') {
    const replaced = state.droppedChecks.get(name);
    const check = model.checks.get(name)!;
    if (replaced?.values && check.values && replaced.column === check.column) {
      const lost = replaced.values.filter((value) => !check.values!.includes(value));
      if (lost.length === 0) return [];
      return [`CHECK ${name} no longer allows ${lost.join(', ')}, which the previous release may write`];
    }
    return [`adds CHECK ${name} on existing table ${table}: the previous release's writes may break it`];
  }
  return [
    `adds ${kind} constraint ${name} on existing table ${table}: the previous release's writes may break it`,
  ];
}

function createIndex(model: Model, state: MigrationState, statement: string): string[] {
  const match =
    /^CREATE\s+(UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:"?\w+"?\s+)?ON\s+(?:ONLY\s+)?("?[\w.]+"?)\s*(?:USING\s+\w+\s*)?\(([^)]*)\)/i.exec(
      statement,
    );
  if (!match) return ['CREATE INDEX this check cannot read'];
  const table = identifier(match[2]!);
  if (!match[1]) return [];
  if (model.tables.get(table)?.createdIn === state.migration) return [];
  const columns = columnsIn(match[3]!, model.tables.get(table));
  if (columns.length > 0 && columns.every((column) => state.addedColumns.has(`${table}.${column}`)))
    return [];
  return [`adds a unique index on existing table ${table}: the previous release may insert duplicates`];
}

function recordConstraint(model: Model, table: string, name: string, definition: string): void {
  const upper = definition.trim().toUpperCase();
  if (upper.startsWith('CHECK')) {
    const list = /^CHECK\s*\(\s*\(?\s*("?\w+"?)\s+IN\s*\(([^)]*)\)\s*\)?\s*\)$/is.exec(definition.trim());
    model.checks.set(name, {
      table,
      column: list ? identifier(list[1]!) : null,
      values: list ? list[2]!.split(',').map((value) => value.trim()) : null,
    });
  } else if (/^(UNIQUE|PRIMARY)/.test(upper)) {
    model.uniqueConstraints.add(name);
  }
}

/** SMALLINT → INTEGER → BIGINT, VARCHAR(n) → VARCHAR(m ≥ n) → TEXT, TIMESTAMP(p) → more precision. */
function widens(before: string, after: string): boolean {
  if (before === after) return true;
  const integers = ['SMALLINT', 'INTEGER', 'BIGINT'];
  if (integers.includes(before) && integers.includes(after))
    return integers.indexOf(after) >= integers.indexOf(before);
  const varchar = (type: string) => /^(?:VARCHAR|CHARACTER VARYING)\((\d+)\)$/.exec(type)?.[1];
  if (varchar(before) !== undefined && after === 'TEXT') return true;
  if (varchar(before) !== undefined && varchar(after) !== undefined)
    return Number(varchar(after)) >= Number(varchar(before));
  const precision = (type: string) => /^(TIMESTAMPTZ|TIMESTAMP)\((\d)\)$/.exec(type);
  const [b, a] = [precision(before), precision(after)];
  return Boolean(b && a && b[1] === a[1] && Number(a[2]) >= Number(b[2]));
}

/** The type of a column definition, upper-cased, without its constraints. */
function columnType(definition: string): string {
  const stop =
    /\s+(NOT\s+NULL|NULL|DEFAULT|PRIMARY|UNIQUE|REFERENCES|CHECK|CONSTRAINT|GENERATED|COLLATE)\b/i.exec(
      definition,
    );
  const type = (stop ? definition.slice(0, stop.index) : definition)
    .trim()
    .toUpperCase()
    .replace(/\s+/g, ' ');
  return type
    .replace(/^INT4$|^INT$/, 'INTEGER')
    .replace(/^INT8$/, 'BIGINT')
    .replace(/^INT2$/, 'SMALLINT');
}

/** The table's columns named in `text` (quoted or bare). */
function columnsIn(text: string, table: Table | undefined): string[] {
  if (!table) return [];
  const names = new Set([...text.matchAll(/"(\w+)"|\b([a-z_]\w*)\b/gi)].map((m) => m[1] ?? m[2]!));
  return [...table.columns.keys()].filter((column) => names.has(column));
}

function identifier(text: string): string {
  const last = text.split('.').at(-1)!;
  return last.replaceAll('"', '');
}

function firstWords(text: string, count: number): string {
  return text.trim().split(/\s+/).slice(0, count).join(' ').toUpperCase();
}

function abbreviate(statement: string): string {
  const line = statement.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/**
 * The statements of a SQL script, comments removed, split at semicolons outside strings,
 * quoted identifiers, comments and dollar-quoted bodies.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    const dollar = /^\$(\w*)\$/.exec(rest);
    if (rest.startsWith('--')) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
    } else if (rest.startsWith('/*')) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
      current += ' ';
    } else if (sql[i] === "'" || sql[i] === '"') {
      const quote = sql[i]!;
      let j = i + 1;
      while (j < sql.length && !(sql[j] === quote && sql[j + 1] !== quote)) j += sql[j] === quote ? 2 : 1;
      current += sql.slice(i, j + 1);
      i = j + 1;
    } else if (dollar) {
      const end = sql.indexOf(dollar[0], i + dollar[0].length);
      const stop = end === -1 ? sql.length : end + dollar[0].length;
      current += sql.slice(i, stop);
      i = stop;
    } else if (sql[i] === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i += 1;
    } else {
      current += sql[i];
      i += 1;
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/** Top-level comma-separated items of a list (commas inside parentheses or quotes do not split). */
function splitTopLevel(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  let quote: string | null = null;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = null;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === '(') depth += 1;
    else if (char === ')') depth -= 1;
    else if (char === ',' && depth === 0) {
      if (current.trim()) items.push(current.trim());
      current = '';
      continue;
    }
    current += char;
  }
  if (current.trim()) items.push(current.trim());
  return items;
}
