import { ConflictError, parseTemplate, type TaskTemplate, templateContentHash } from '@switchyard/core';
import type { Queryable } from './pool.ts';

export type StoredTemplate = { id: number; template: TaskTemplate };

const REGISTER_SQL = `
WITH ns AS (
  INSERT INTO namespaces (name) VALUES ($1)
  ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
  RETURNING id
), inserted AS (
  INSERT INTO named_tasks (namespace_id, name, version, description, definition, content_hash)
  SELECT id, $2, $3, $4, $5::jsonb, $6 FROM ns
  ON CONFLICT (namespace_id, name, version) DO NOTHING
  RETURNING id, content_hash
)
SELECT id, content_hash, true AS created FROM inserted
UNION ALL
SELECT nt.id, nt.content_hash, false FROM named_tasks nt JOIN ns ON nt.namespace_id = ns.id
 WHERE nt.name = $2 AND nt.version = $3`;

/**
 * Stores a validated template version. Registering the same version with the same content is
 * a no-op (every worker registers its templates at start); with different content it is
 * refused, because running tasks were created from the stored one: publish a new version.
 * @throws ConflictError when the version exists with other content.
 */
export async function registerTemplate(
  db: Queryable,
  template: TaskTemplate,
): Promise<{ id: number; created: boolean }> {
  const hash = templateContentHash(template);
  const params = [
    template.namespace,
    template.name,
    template.version,
    template.description,
    JSON.stringify(template),
    hash,
  ];
  let { rows } = await db.query(REGISTER_SQL, params);
  // A concurrent registration of the same version committed after our snapshot: read it now.
  if (rows.length === 0) ({ rows } = await db.query(REGISTER_SQL, params));
  const row = rows[0];
  if (row.content_hash !== hash && !(await sameAfterReparse(db, row.id, hash))) {
    throw new ConflictError(
      `template ${template.namespace}/${template.name}@${template.version} is already registered with different content; register it under a new version`,
    );
  }
  return { id: row.id, created: row.created };
}

/**
 * Whether the stored version, parsed again by today's parser, is the template being registered.
 * A newer Switchyard may add a field with a default to the template document; that changes the
 * stored hash of every existing template without changing what any of them means.
 */
async function sameAfterReparse(db: Queryable, id: number, hash: string): Promise<boolean> {
  const { rows } = await db.query('SELECT definition FROM named_tasks WHERE id = $1', [id]);
  try {
    return templateContentHash(parseTemplate(rows[0].definition)) === hash;
  } catch {
    return false;
  }
}

// Newest version first: the highest major.minor.patch, a release above its prereleases.
const LATEST_FIRST = `string_to_array(split_part(nt.version, '-', 1), '.')::int[] DESC,
               (strpos(nt.version, '-') > 0) ASC, nt.version DESC`;

export type TemplateRef = { namespace: string; name: string; version?: string | null | undefined };

/**
 * Loads a template version, or the latest when `version` is omitted. "Latest" is the highest
 * major.minor.patch, a release ranking above its prereleases.
 */
export async function findTemplate(db: Queryable, ref: TemplateRef): Promise<StoredTemplate | null> {
  const [found] = await findTemplates(db, [ref]);
  return found ?? null;
}

/**
 * {@link findTemplate} for many references in one statement, one answer per reference in order.
 * A reference asked several times is looked up once, and its answers share one template object.
 */
export async function findTemplates(
  db: Queryable,
  refs: readonly TemplateRef[],
): Promise<(StoredTemplate | null)[]> {
  const key = (ref: TemplateRef) => JSON.stringify([ref.namespace, ref.name, ref.version ?? null]);
  const distinct = [...new Map(refs.map((ref) => [key(ref), ref])).values()];
  const { rows } = await db.query({
    name: 'switchyard_find_templates',
    text: `SELECT r.ord, t.id, t.definition
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(namespace, name, version, ord)
             CROSS JOIN LATERAL (
               SELECT nt.id, nt.definition FROM named_tasks nt JOIN namespaces ns ON ns.id = nt.namespace_id
                WHERE ns.name = r.namespace AND nt.name = r.name AND (r.version IS NULL OR nt.version = r.version)
                ORDER BY ${LATEST_FIRST}
                LIMIT 1) t`,
    values: [
      distinct.map((ref) => ref.namespace),
      distinct.map((ref) => ref.name),
      distinct.map((ref) => ref.version ?? null),
    ],
  });
  const found = new Map<string, StoredTemplate>();
  for (const row of rows)
    found.set(key(distinct[Number(row.ord) - 1] as TemplateRef), {
      id: row.id,
      template: row.definition as TaskTemplate,
    });
  return refs.map((ref) => found.get(key(ref)) ?? null);
}

/** Every registered (namespace, name, version), for "what exists" answers to a bad reference. */
export async function listTemplateRefs(
  db: Queryable,
): Promise<{ namespace: string; name: string; version: string }[]> {
  const { rows } = await db.query(
    `SELECT ns.name AS namespace, nt.name, nt.version FROM named_tasks nt JOIN namespaces ns ON ns.id = nt.namespace_id
      ORDER BY ns.name, nt.name, nt.created_at`,
  );
  return rows;
}

/**
 * The templates an event starts: of each registered template, its latest version, when that
 * version lists the event under `triggers` (removing a trigger in a new version stops it).
 * `namespaces` limits the search (null: every namespace).
 */
export async function findTriggeredTemplates(
  db: Queryable,
  event: string,
  namespaces: readonly string[] | null,
): Promise<StoredTemplate[]> {
  const { rows } = await db.query(
    `SELECT id, definition FROM (
       SELECT DISTINCT ON (nt.namespace_id, nt.name) nt.id, nt.definition
         FROM named_tasks nt JOIN namespaces ns ON ns.id = nt.namespace_id
        WHERE $2::text[] IS NULL OR ns.name = ANY ($2)
        ORDER BY nt.namespace_id, nt.name, ${LATEST_FIRST}) latest
      WHERE definition->'triggers' @> jsonb_build_array(jsonb_build_object('event', $1::text))
      ORDER BY definition->>'namespace', definition->>'name'`,
    [event, namespaces],
  );
  return rows.map((row) => ({ id: row.id, template: row.definition as TaskTemplate }));
}
