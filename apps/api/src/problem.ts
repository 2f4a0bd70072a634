/**
 * Errors as `application/problem+json` (RFC 9457). Every error code maps to a response in one
 * table; anything that is not a known error is a 500 whose details stay in the log.
 */
import { type Problem, ProblemSchema } from '@switchyard/client';
import {
  type FieldIssue,
  SwitchyardError,
  TaskCreateUnavailableError,
  toError,
  ValidationError,
} from '@switchyard/core';
import { isRetriableDbError } from '@switchyard/db';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/** The request lacks a valid API key (401). */
export class UnauthorizedError extends SwitchyardError {
  override name = 'UnauthorizedError';
  constructor(message: string) {
    super(message, 'unauthorized');
  }
}

/** The API key lacks the scope or the namespace (403). */
export class ForbiddenError extends SwitchyardError {
  override name = 'ForbiddenError';
  constructor(message: string) {
    super(message, 'forbidden');
  }
}

/** Error code → HTTP status and title: the one table. */
const PROBLEMS: Record<string, { status: number; title: string }> = {
  validation_failed: { status: 400, title: 'Invalid request' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  transient_infrastructure: { status: 503, title: 'Service unavailable' },
  outcome_unknown: { status: 503, title: 'Outcome unknown' },
  database_unavailable: { status: 503, title: 'Service unavailable' },
  not_ready: { status: 503, title: 'Service unavailable' },
  internal: { status: 500, title: 'Internal error' },
};

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** The challenge every 401 carries (RFC 6750 §3), so a client knows which scheme to answer with. */
export const WWW_AUTHENTICATE = 'Bearer realm="switchyard"';

/** What each problem status means to a caller, as the OpenAPI document describes it. */
const STATUS_MEANINGS: Record<number, string> = {
  400: 'Invalid request; `errors` lists each failing field as a JSON pointer, rule and message',
  401: 'No API key, or an unknown or revoked one; send `Authorization: Bearer <key>`',
  403: 'The API key lacks the scope, or may not touch this namespace',
  404: 'No such resource',
  409: 'The resource is not in a state that allows this operation; `detail` says why',
  413: 'The request body is over the size limit',
  415: 'The request body is not `application/json`',
  503: 'Postgres is unavailable; retry later',
};

/** Problem responses a route may give, for the OpenAPI document and the serializer. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status, ProblemSchema)]));
}

/** One problem response: `schema` (the problem document, or one with extension members) as problem+json. */
export function problemResponse<S>(status: number, schema: S, description?: string) {
  return {
    description: description ?? STATUS_MEANINGS[status] ?? 'Error',
    content: { [PROBLEM_MEDIA_TYPE]: { schema } },
  };
}

/** A problem document for `code`. */
export function problem(code: string, detail: string, errors?: readonly FieldIssue[]): Problem {
  const { status, title } = PROBLEMS[code] ?? PROBLEMS.internal!;
  return {
    type: `urn:switchyard:problem:${code}`,
    title,
    status,
    detail,
    code,
    ...(errors ? { errors: [...errors] } : {}),
  };
}

// Fastify's own 4xx errors (body parsing, content type, size) by their codes.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
  FST_ERR_BAD_URL: 'bad_request',
};

/** Classifies anything thrown while handling a request into a problem document. */
export function toProblem(err: unknown): Problem {
  if (hasZodFastifySchemaValidationErrors(err)) return validationProblem(err);
  if (err instanceof ValidationError) return problem('validation_failed', err.message, err.issues);
  if (err instanceof TaskCreateUnavailableError) return createUnavailableProblem(err.taskMayExist);
  if (err instanceof SwitchyardError && PROBLEMS[err.code]) return problem(err.code, err.message);
  const e = err as FastifyError & { code?: string; statusCode?: number };
  const fastifyCode = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (fastifyCode) return problem(fastifyCode, e.message);
  // A body that is not JSON, or a status fastify chose for bad input (e.g. 400 on a bad header).
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return problem('bad_request', e.message);
  if (isRetriableDbError(err))
    return problem('transient_infrastructure', 'the database is unavailable; retry');
  // statement_timeout (SQLSTATE 57014): Postgres cancelled the statement, so it changed nothing.
  if (e.code === '57014')
    return problem('transient_infrastructure', 'the database did not answer in time; retry');
  // Postgres class 22 (data exception): input the checks above let through that the database refuses.
  if (typeof e.code === 'string' && e.code.startsWith('22')) return problem('bad_request', e.message);
  return problem('internal', 'an unexpected error occurred; it has been logged');
}

/**
 * A create's 503 says whether the task may exist, and how to retry without making it twice: the
 * same key returns the task an earlier attempt made (Stripe's idempotency keys work the same way).
 */
export function createUnavailableProblem(taskMayExist: boolean): Problem {
  const retry =
    'retry with the same Idempotency-Key (the typed client does so by itself, with a key of its own when none was given)';
  const detail = taskMayExist
    ? `the database failed after the task was sent to it, so the task may exist; ${retry}, which returns the task if it exists. Without a key, a unique-identity template would make a second task: look for it by its correlationId first`
    : `the database is unavailable and the task was not created; ${retry}`;
  return {
    ...problem(taskMayExist ? 'outcome_unknown' : 'database_unavailable', detail),
    task_may_exist: taskMayExist,
  };
}

// Body paths are pointers into the body (as the engine's own issues are); other parts say which.
const PART_PREFIX: Record<string, string> = {
  body: '',
  querystring: '/query',
  params: '/params',
  headers: '/headers',
};

function validationProblem(err: {
  validation: { instancePath: string; keyword: string; message?: string }[];
  validationContext?: string;
}): Problem {
  const where = err.validationContext ?? 'body';
  const prefix = PART_PREFIX[where] ?? `/${where}`;
  const issues = err.validation.map((issue) => ({
    path: `${prefix}${issue.instancePath === '/' ? '' : issue.instancePath}`,
    rule: issue.keyword,
    message: issue.message ?? 'is invalid',
  }));
  return problem('validation_failed', `invalid request ${where}`, issues);
}

/**
 * A create's 503 always says whether the task may exist. One that the engine did not classify
 * failed before any insert was sent (the API key could not be checked, or Postgres cancelled a
 * statement at its timeout), so the task was not created.
 */
function createSaysWhetherTaskExists(request: FastifyRequest, body: Problem): Problem {
  const isCreate = request.method === 'POST' && request.routeOptions.url === '/v1/tasks';
  if (!isCreate || body.status !== 503 || body.task_may_exist !== undefined) return body;
  return createUnavailableProblem(false);
}

/** Installs the error and not-found handlers that answer every failure with a problem document. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const body = createSaysWhetherTaskExists(request, toProblem(err));
    if (body.status >= 500) request.log.error({ err: toError(err) }, 'request failed');
    else request.log.info({ code: body.code, detail: body.detail }, 'request refused');
    return sendProblem(reply, { ...body, instance: request.url });
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      ...problem('not_found', `no route ${request.method} ${request.url}`),
      instance: request.url,
    }),
  );
}

/** For Fastify's `frameworkErrors`: errors raised before routing (bad URL, over-long path parameter). */
export function frameworkErrorHandler(err: Error, request: FastifyRequest, reply: FastifyReply): void {
  void sendProblem(reply, { ...toProblem(err), instance: request.url });
}

/** Sends a problem document with its status and media type. */
export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  if (body.status === 401) reply.header('www-authenticate', WWW_AUTHENTICATE);
  return reply.code(body.status).type(PROBLEM_MEDIA_TYPE).send(body);
}
