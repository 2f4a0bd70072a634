/**
 * A parser for the subset of the Prisma schema language that prisma/schema.prisma uses: models,
 * scalar and relation fields with `?` and `[]`, field attributes (`@id`, `@unique`, `@default`,
 * `@map`, `@relation`, `@updatedAt`, `@db.*`) and block attributes (`@@id`, `@@unique`,
 * `@@index`, `@@map`).
 *
 * Why not Prisma's own `getDMMF`: in Prisma 7 it exists only inside the CLI's bundle
 * (build/cli.js + prisma_schema_build_bg.wasm) with no importable entry point, and the generated
 * client keeps only names (no types, nullability, indexes or foreign keys). The parser is strict
 * instead: anything outside the subset (enums, views, composite types, index sort orders or
 * methods, unknown attributes) is an error naming the line, so a schema change it does not
 * understand fails the agreement test loudly instead of being skipped.
 */

/** `@name(args)` or `@@name(args)`; `args` is the raw text between the parentheses. */
export type Attribute = { name: string; args: string | null; line: number };

export type FieldDecl = {
  name: string;
  /** Scalar type (`String`, `Int`, ...) or a model name for relation fields. */
  type: string;
  optional: boolean;
  list: boolean;
  attributes: Attribute[];
  line: number;
};

export type ModelDecl = { name: string; fields: FieldDecl[]; attributes: Attribute[]; line: number };

/** A parse or support failure, with the schema line it concerns. */
export class SchemaParseError extends Error {
  override name = 'SchemaParseError';
}

const IGNORED_BLOCKS = new Set(['generator', 'datasource']);

/** Parses the models of a Prisma schema (generator and datasource blocks are skipped). */
export function parsePrismaSchema(source: string): ModelDecl[] {
  const lines = source.split('\n').map((line) => stripComment(line).trim());
  const models: ModelDecl[] = [];
  let current: ModelDecl | null = null;
  let skipping = false;
  for (const [index, text] of lines.entries()) {
    const line = index + 1;
    if (text === '') continue;
    if (current || skipping) {
      if (text === '}') {
        if (current) models.push(current);
        current = null;
        skipping = false;
      } else if (current) {
        addMember(current, text, line);
      }
      continue;
    }
    const block = /^(\w+)\s+(\w+)\s*\{$/.exec(text);
    if (!block) throw new SchemaParseError(`line ${line}: expected a block, found "${text}"`);
    const [, kind, name] = block as unknown as [string, string, string];
    if (IGNORED_BLOCKS.has(kind)) skipping = true;
    else if (kind === 'model') current = { name, fields: [], attributes: [], line };
    else
      throw new SchemaParseError(`line ${line}: "${kind}" blocks are not supported by the schema check yet`);
  }
  if (current) throw new SchemaParseError('unterminated model block');
  return models;
}

function addMember(model: ModelDecl, text: string, line: number): void {
  if (text.startsWith('@@')) {
    model.attributes.push(...parseAttributes(text, line));
    return;
  }
  const field = /^(\w+)\s+(\w+)(\[\])?(\?)?(.*)$/.exec(text);
  if (!field) throw new SchemaParseError(`line ${line}: cannot read field "${text}"`);
  const [, name, type, list, optional, rest] = field as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  model.fields.push({
    name,
    type,
    list: Boolean(list),
    optional: Boolean(optional),
    attributes: parseAttributes(rest, line),
    line,
  });
}

/** Splits `@a @b(x, y) @db.Uuid` into attributes, honouring nested parentheses and strings. */
function parseAttributes(text: string, line: number): Attribute[] {
  const attributes: Attribute[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i]!)) {
      i += 1;
      continue;
    }
    const head = /^@@?[\w.]+/.exec(text.slice(i));
    if (!head) throw new SchemaParseError(`line ${line}: unexpected "${text.slice(i)}"`);
    i += head[0].length;
    let args: string | null = null;
    if (text[i] === '(') {
      const end = closingParen(text, i, line);
      args = text.slice(i + 1, end).trim();
      i = end + 1;
    }
    attributes.push({ name: head[0], args, line });
  }
  return attributes;
}

function closingParen(text: string, open: number, line: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') i = closingQuote(text, i, line);
    else if (ch === '(' || ch === '[') depth += 1;
    else if ((ch === ')' || ch === ']') && --depth === 0) return i;
  }
  throw new SchemaParseError(`line ${line}: unbalanced parentheses`);
}

function closingQuote(text: string, open: number, line: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i;
  }
  throw new SchemaParseError(`line ${line}: unterminated string`);
}

/** Removes a `//` comment (including `///` doc comments) that is not inside a string. */
function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\' && inString) i += 1;
    else if (line[i] === '"') inString = !inString;
    else if (!inString && line.startsWith('//', i)) return line.slice(0, i);
  }
  return line;
}

/** Top-level comma-separated parts of an argument list (commas inside [], () or strings stay). */
export function splitArgs(args: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const ch = args[i];
    if (ch === '"') i = closingQuote(args, i, 0);
    else if (ch === '(' || ch === '[') depth += 1;
    else if (ch === ')' || ch === ']') depth -= 1;
    else if (ch === ',' && depth === 0) {
      parts.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = args.slice(start).trim();
  if (last !== '') parts.push(last);
  return parts;
}

/** Arguments split into the positional ones and the `key: value` ones. */
export type Args = { positional: string[]; named: Record<string, string> };

export function parseArgs(args: string | null): Args {
  const result: Args = { positional: [], named: {} };
  for (const part of splitArgs(args ?? '')) {
    const named = /^(\w+)\s*:\s*([\s\S]+)$/.exec(part);
    if (named) result.named[named[1]!] = named[2]!.trim();
    else result.positional.push(part);
  }
  return result;
}

/** `"text"` → `text` (Prisma strings use JSON escapes). */
export function unquote(value: string): string {
  if (!/^".*"$/s.test(value)) throw new SchemaParseError(`expected a string literal, found ${value}`);
  return JSON.parse(value) as string;
}

/** `[a, b]` → `['a', 'b']`; `a(sort: Desc)` entries are refused (sort orders are not checked). */
export function parseFieldList(value: string): string[] {
  const inner = /^\[([\s\S]*)\]$/.exec(value.trim());
  if (!inner) throw new SchemaParseError(`expected a field list like [a, b], found ${value}`);
  return splitArgs(inner[1]!).map((item) => {
    if (!/^\w+$/.test(item))
      throw new SchemaParseError(`field list entry "${item}" is not supported by the schema check`);
    return item;
  });
}
