/**
 * API keys: created with a random secret shown once, stored as a sha256 hash, looked up by that
 * hash on every request. sha256 rather than a slow password hash because the keys are 256-bit
 * random values: there is no dictionary to slow down, and the lookup stays one indexed read.
 */
import { createHash, randomBytes } from 'node:crypto';
import { NotFoundError, ValidationError } from '@switchyard/core';
import type { Queryable } from './pool.ts';

/** What a key may do; `admin` grants every scope. */
export const API_KEY_SCOPES = ['tasks:write', 'tasks:read', 'operate', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** A stored key, without its secret. */
export type ApiKeyView = {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  /** Namespaces the key may touch; empty means every namespace. */
  namespaces: string[];
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** After this the key is refused like an unknown one; null: it never expires. */
  expiresAt: Date | null;
};

const KEY_COLUMNS = `id, name, prefix, scopes, namespaces, created_by AS "createdBy", created_at AS "createdAt",
  last_used_at AS "lastUsedAt", revoked_at AS "revokedAt", expires_at AS "expiresAt"`;

/** The sha256 (hex) under which a key is stored. */
function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Creates a key: `sy_<prefix>_<secret>` where prefix is 8 hex characters (public, listed) and
 * secret 43 base64url characters (256 bits). Returns the key itself once; only its hash is kept.
 * `namespaces` absent or empty: every namespace; `expiresAt` absent or null: it never expires.
 * @throws ValidationError for an empty name, no scope, an unknown scope, an empty namespace
 *   name (it would read as "every namespace" in some paths) or an expiry that is not in the future.
 */
export async function createApiKey(
  db: Queryable,
  input: {
    name: string;
    scopes: readonly string[];
    namespaces?: readonly string[];
    createdBy: string;
    expiresAt?: Date | null;
  },
): Promise<{ key: string; view: ApiKeyView }> {
  checkKeyInput(input);
  const prefix = randomBytes(4).toString('hex');
  const key = `sy_${prefix}_${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query(
    `INSERT INTO api_keys (name, prefix, key_hash, scopes, namespaces, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${KEY_COLUMNS}`,
    [
      input.name,
      prefix,
      hashApiKey(key),
      [...new Set(input.scopes)],
      [...new Set(input.namespaces ?? [])],
      input.createdBy,
      input.expiresAt ?? null,
    ],
  );
  return { key, view: rows[0] as ApiKeyView };
}

function checkKeyInput(input: {
  name: string;
  scopes: readonly string[];
  namespaces?: readonly string[];
  expiresAt?: Date | null;
}): void {
  const issues = [...namespaceIssues(input.namespaces ?? []), ...expiryIssues(input.expiresAt ?? null)];
  if (input.name.trim() === '')
    issues.push({ path: '/name', rule: 'required', message: 'must not be empty' });
  if (input.scopes.length === 0) {
    issues.push({ path: '/scopes', rule: 'required', message: 'at least one scope is required' });
  }
  for (const scope of input.scopes) {
    if (!(API_KEY_SCOPES as readonly string[]).includes(scope)) {
      issues.push({
        path: '/scopes',
        rule: 'enum',
        message: `unknown scope "${scope}"; known: ${API_KEY_SCOPES.join(', ')}`,
      });
    }
  }
  if (issues.length > 0) throw new ValidationError('invalid API key', issues);
}

function namespaceIssues(namespaces: readonly string[]) {
  return namespaces.some((namespace) => namespace.trim() === '')
    ? [
        {
          path: '/namespaces',
          rule: 'minLength',
          message: 'a namespace name must not be empty (no namespaces at all means every namespace)',
        },
      ]
    : [];
}

function expiryIssues(expiresAt: Date | null) {
  if (expiresAt === null) return [];
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))
    return [{ path: '/expiresAt', rule: 'format', message: 'must be a valid date' }];
  if (expiresAt.getTime() <= Date.now())
    return [{ path: '/expiresAt', rule: 'minimum', message: 'must be in the future' }];
  return [];
}

/**
 * The live (neither revoked nor expired) key with this secret, or null. Stamps `last_used_at` at
 * most once a minute per key, so a busy client does not turn every request into a row update.
 */
export async function authenticateApiKey(db: Queryable, key: string): Promise<ApiKeyView | null> {
  const { rows } = await db.query(
    `SELECT ${KEY_COLUMNS} FROM api_keys
      WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > clock_timestamp())`,
    [hashApiKey(key)],
  );
  const view = rows[0] as ApiKeyView | undefined;
  if (!view) return null;
  if (!view.lastUsedAt || Date.now() - view.lastUsedAt.getTime() > 60_000) {
    await db.query('UPDATE api_keys SET last_used_at = clock_timestamp() WHERE id = $1', [view.id]);
  }
  return view;
}

/** Every key, newest first, revoked ones included (they say when). */
export async function listApiKeys(db: Queryable): Promise<ApiKeyView[]> {
  const { rows } = await db.query(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`);
  return rows as ApiKeyView[];
}

/**
 * Revokes a key by id or prefix; revoking a revoked key is a no-op that returns it.
 * @throws NotFoundError when no key has that id or prefix.
 */
export async function revokeApiKey(db: Queryable, idOrPrefix: string): Promise<ApiKeyView> {
  const { rows } = await db.query(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, clock_timestamp())
      WHERE prefix = $1 OR id::text = $1 RETURNING ${KEY_COLUMNS}`,
    [idOrPrefix],
  );
  if (!rows[0]) throw new NotFoundError(`no API key has the id or prefix ${idOrPrefix}`);
  return rows[0] as ApiKeyView;
}
