/**
 * The user service (port 7101 in the template): accounts keyed by email.
 * `POST /users` → 201 (409 with the existing user on a duplicate email), `GET /users?email=`,
 * `PATCH /users/:id/status`; for enterprise users `POST /users/:id/sso` → 201 (409 with the
 * existing connection on a repeat, 422 for another plan) and `GET /users/:id/sso`.
 */
import { randomUUID } from 'node:crypto';
import {
  invalid,
  type JsonReply,
  objectBody,
  type RouteRequest,
  reply,
  type ServiceDefinition,
} from './kit.ts';

/** A stored user. */
export type User = { id: string; email: string; name: string; plan: Plan; status: UserStatus };
export type Plan = 'free' | 'pro' | 'enterprise';
export type UserStatus = 'pending' | 'active' | 'suspended';

/** The plans every service accepts. */
export const PLANS: readonly Plan[] = ['free', 'pro', 'enterprise'];

/** What every per-user record needs in its body: a `user_id` and a known `plan`. */
export function checkUserAndPlan(body: Record<string, unknown>): JsonReply | null {
  if (typeof body.user_id !== 'string' || !body.user_id)
    return invalid('user_id', 'must be a non-empty string');
  if (!PLANS.includes(body.plan as Plan)) return invalid('plan', `must be one of ${PLANS.join(', ')}`);
  return null;
}
const STATUSES: readonly UserStatus[] = ['pending', 'active', 'suspended'];

/** A user's single sign-on connection: enterprise plans only, one per user. */
export type SsoConnection = {
  id: string;
  user_id: string;
  domain: string;
  protocol: 'saml';
  status: 'active';
};

/** Creates the user service over an empty store. */
export function userService(): ServiceDefinition {
  const users = new Map<string, User>();
  const idsByEmail = new Map<string, string>();
  const byEmail = (email: string) => users.get(idsByEmail.get(email) ?? '');
  const ssoByUser = new Map<string, SsoConnection>();

  const create = (request: RouteRequest): JsonReply => {
    const body = objectBody(request.body);
    if (!body) return reply(400, { error: 'body must be a JSON object' });
    const problem = checkNewUser(body);
    if (problem) return problem;
    // Emails are case-insensitive in practice; one account per mailbox.
    const email = (body.email as string).trim().toLowerCase();
    const existing = byEmail(email);
    if (existing) return reply(409, { error: `a user with email ${email} exists`, user: existing });
    const user: User = {
      id: randomUUID(),
      email,
      name: body.name as string,
      plan: body.plan as Plan,
      status: 'pending',
    };
    users.set(user.id, user);
    idsByEmail.set(email, user.id);
    request.sideEffect();
    return reply(201, user);
  };

  const find = (request: RouteRequest): JsonReply => {
    const email = request.query.get('email')?.trim().toLowerCase();
    if (!email) return invalid('email', 'is a required query parameter');
    const user = byEmail(email);
    return user ? reply(200, user) : reply(404, { error: `no user with email ${email}` });
  };

  const setStatus = (request: RouteRequest): JsonReply => {
    const status = objectBody(request.body)?.status;
    if (!STATUSES.includes(status as UserStatus))
      return invalid('status', `must be one of ${STATUSES.join(', ')}`);
    const user = users.get(request.params.id ?? '');
    if (!user) return reply(404, { error: `no user ${request.params.id}` });
    user.status = status as UserStatus;
    request.sideEffect();
    return reply(200, user);
  };

  const provisionSso = (request: RouteRequest): JsonReply => {
    const domain = objectBody(request.body)?.domain;
    if (typeof domain !== 'string' || !/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(domain))
      return invalid('domain', 'must be a domain name');
    const user = users.get(request.params.id ?? '');
    if (!user) return reply(404, { error: `no user ${request.params.id}` });
    if (user.plan !== 'enterprise') return invalid('plan', `must be enterprise for SSO (is ${user.plan})`);
    const existing = ssoByUser.get(user.id);
    if (existing) return reply(409, { error: `user ${user.id} has an SSO connection`, connection: existing });
    const connection: SsoConnection = {
      id: randomUUID(),
      user_id: user.id,
      domain: domain.toLowerCase(),
      protocol: 'saml',
      status: 'active',
    };
    ssoByUser.set(user.id, connection);
    request.sideEffect();
    return reply(201, connection);
  };

  const findSso = (request: RouteRequest): JsonReply => {
    const connection = ssoByUser.get(request.params.id ?? '');
    return connection
      ? reply(200, connection)
      : reply(404, { error: `no SSO connection for ${request.params.id}` });
  };

  return {
    name: 'user',
    routes: [
      { method: 'POST', path: '/users', handle: create },
      { method: 'GET', path: '/users', handle: find },
      { method: 'PATCH', path: '/users/:id/status', handle: setStatus },
      { method: 'POST', path: '/users/:id/sso', handle: provisionSso },
      { method: 'GET', path: '/users/:id/sso', handle: findSso },
    ],
    reset: () => {
      users.clear();
      idsByEmail.clear();
      ssoByUser.clear();
    },
  };
}

function checkNewUser(body: Record<string, unknown>): JsonReply | null {
  const { email, name, plan } = body;
  if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email.trim())) {
    return invalid('email', 'must be an email address');
  }
  if (typeof name !== 'string' || !name.trim()) return invalid('name', 'must be a non-empty string');
  if (!PLANS.includes(plan as Plan)) return invalid('plan', `must be one of ${PLANS.join(', ')}`);
  return null;
}
