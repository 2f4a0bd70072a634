/**
 * API key authentication and authorization. A route declares the scope it needs in its config
 * (`config: { scope: 'tasks:read' }`); routes without one (health, docs) are open. `admin`
 * grants every scope. A key restricted to namespaces may only touch tasks and templates in them.
 */
import { type ApiKeyScope, authenticateApiKey, type Pool } from '@switchyard/db';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from './problem.ts';

/** Who is calling: the audit actor, what it may do and where. */
export type Principal = {
  actor: string;
  scopes: readonly ApiKeyScope[];
  /** Namespaces it may touch; null means every namespace. */
  namespaces: readonly string[] | null;
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scope an API key needs for this route; absent means the route is open. */
    scope?: ApiKeyScope;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

/** The principal every request gets when authentication is switched off. */
const LOCAL_DEVELOPER: Principal = { actor: 'local (auth disabled)', scopes: ['admin'], namespaces: null };
const ANONYMOUS: Principal = { actor: 'anonymous', scopes: [], namespaces: null };

/** Installs the authentication hook. With `disabled`, every request acts as an admin. */
export function installAuth(app: FastifyInstance, deps: { pool: Pool; disabled: boolean }): void {
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request) => {
    const scope = request.routeOptions.config.scope;
    if (deps.disabled) {
      request.principal = LOCAL_DEVELOPER;
      return;
    }
    if (!scope) {
      request.principal = ANONYMOUS;
      return;
    }
    const principal = await authenticate(deps.pool, request);
    if (!hasScope(principal, scope)) {
      throw new ForbiddenError(
        `this API key lacks the ${scope} scope (it has: ${principal.scopes.join(', ')})`,
      );
    }
    request.principal = principal;
  });
}

async function authenticate(pool: Pool, request: FastifyRequest): Promise<Principal> {
  const key = presentedKey(request);
  if (!key) throw new UnauthorizedError('an API key is required: send "Authorization: Bearer <key>"');
  const view = await authenticateApiKey(pool, key);
  // One answer for unknown, revoked and expired keys: the caller learns nothing about the key.
  if (!view) throw new UnauthorizedError('the API key is unknown, revoked or expired');
  return {
    actor: `key:${view.name}`,
    scopes: view.scopes,
    namespaces: view.namespaces.length > 0 ? view.namespaces : null,
  };
}

function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  const bearer = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1] : undefined;
  const alt = request.headers['x-api-key'];
  return bearer ?? (typeof alt === 'string' && alt !== '' ? alt : null);
}

function hasScope(principal: Principal, scope: ApiKeyScope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope);
}

/** Whether the caller may touch `namespace`. */
export function mayTouch(principal: Principal, namespace: string): boolean {
  return !principal.namespaces || principal.namespaces.includes(namespace);
}

/** Throws ForbiddenError unless the caller may touch `namespace` (one the caller named itself). */
export function assertNamespace(principal: Principal, namespace: string): void {
  if (!mayTouch(principal, namespace)) {
    throw new ForbiddenError(
      `this API key may not touch namespace ${namespace} (allowed: ${principal.namespaces?.join(', ')})`,
    );
  }
}

/** Throws ForbiddenError for a key restricted to namespaces: the action affects every namespace. */
export function assertUnrestricted(principal: Principal, action: string): void {
  if (principal.namespaces) {
    throw new ForbiddenError(`${action} affects every namespace; this API key is restricted to some`);
  }
}
