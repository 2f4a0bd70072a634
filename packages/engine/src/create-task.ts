import { randomUUID } from 'node:crypto';
import {
  assertCallerKeyGiven,
  delayedStart,
  NotFoundError,
  TaskCreateUnavailableError,
  type TaskTemplate,
  taskIdentityHash,
  toError,
  ValidationError,
  validateContext,
} from '@switchyard/core';
import {
  type InsertedTask,
  isDatabaseUnavailable,
  listTemplateRefs,
  mayHaveTakenEffect,
  type NewTask,
  type Pool,
  type TaskRow,
} from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import { inSpan, trace, context as traceContextApi, traceparentOf, tracer } from '@switchyard/tracing';
import type { Logger } from 'pino';
import { z } from 'zod';
import { insertTaskBatched, lookUpTemplate } from './creation-batches.ts';

/** A request to start a workflow. */
export const CreateTaskRequestSchema = z.strictObject({
  namespace: z.string().min(1),
  name: z.string().min(1),
  /** Default: the latest registered version. */
  version: z.string().min(1).optional(),
  context: z.unknown(),
  /** Default: a new UUID. Carried by every log line and service call of the task. */
  correlationId: z.string().min(1).max(200).optional(),
  initiator: z.string().max(200).optional(),
  sourceSystem: z.string().max(200).optional(),
  reason: z.string().max(1000).optional(),
  tags: z.array(z.string().max(100)).max(50).optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  /** Caller-provided identity: a second create with the same key returns the first task. */
  idempotencyKey: z.string().min(1).max(200).optional(),
  /**
   * A key a client made for this one create and sends again on its own retries: for a `unique`
   * template without `idempotencyKey`, a retry returns the task an earlier attempt made (as a
   * new task, `duplicate: false`: it is the answer the client lost). Ignored otherwise.
   */
  retryKey: z.string().min(1).max(200).optional(),
  /**
   * Delayed start: the task exists at once (pending, cancellable) and its root steps are
   * dispatched at this time, never earlier. A time already past starts it now; more than a year
   * ahead is refused.
   */
  runAt: z.coerce.date().optional(),
});
export type CreateTaskRequest = z.input<typeof CreateTaskRequestSchema>;

export type CreatedTask = { task: TaskRow; duplicate: boolean; template: TaskTemplate };

/** A root step to dispatch after a create; `delayMs` holds it until the task's runAt. */
type CreatedStep = {
  stepId: string;
  taskId: string;
  handler: string;
  attempt: number;
  delayMs: number | null;
};

/** A validated create, ready to insert (by createTask, or by a schedule's tick in its own transaction). */
export type PreparedTask = { task: NewTask; template: TaskTemplate; replayed: boolean };

/** How the caller is limited; the API passes its key's restrictions. */
export type CreateTaskOptions = {
  /**
   * Namespaces whose templates an unknown-template error may list (default null: every one),
   * so a key restricted to some namespaces does not learn the others' templates.
   */
  visibleNamespaces?: readonly string[] | null;
  /** The schedule and tick the task is created for (the scheduler's ticks only). */
  schedule?: { id: string; tickAt: Date };
};

/**
 * Creates a task from a registered template in one statement (task, steps, edges, initial
 * transitions) and dispatches its root steps right after commit. Creates that arrive while a
 * creation statement runs on the same pool go to Postgres together in the next one (see
 * creation-batches.ts), each answered as if it had been alone: committed before this
 * returns, deduplicated by identity in arrival order.
 * @throws ValidationError naming each bad field (request or context); NotFoundError for an unknown template;
 *   TaskCreateUnavailableError when the database failed, saying whether the task may exist.
 */
export async function createTask(
  deps: { pool: Pool; dispatcher: StepDispatcher; logger?: Logger },
  input: CreateTaskRequest,
  actor = 'client',
  options: CreateTaskOptions = {},
): Promise<CreatedTask> {
  const prepared = await prepareTask(deps.pool, input, actor, options);
  const { template } = prepared;
  const span = createSpan(template);
  const task = {
    ...prepared.task,
    traceContext: traceparentOf(trace.setSpan(traceContextApi.active(), span)),
  };
  const created = await inSpan(span, () => insertOnce(deps.pool, task));
  span.setAttribute('switchyard.task_id', created.task.id);
  // The task is committed: a dispatch that fails (Redis down) is left to the scheduler, whose
  // sweep puts back every enqueued step without a job, so the create still succeeds.
  await dispatchCreated(deps, created, template.namespace);
  return { task: created.task, duplicate: created.duplicate && !prepared.replayed, template };
}

/** The span of a task's creation: every step attempt's span is its child. */
export function createSpan(template: TaskTemplate) {
  return tracer().startSpan('task.create', {
    attributes: {
      'switchyard.namespace': template.namespace,
      'switchyard.task': template.name,
      'switchyard.version': template.version,
    },
  });
}

/** Dispatches a created task's root steps (delayed ones as delayed jobs); a failure is left to the scheduler. */
export async function dispatchCreated(
  deps: { dispatcher: StepDispatcher; logger?: Logger },
  created: { task: TaskRow; ready: readonly CreatedStep[] },
  namespace?: string,
): Promise<void> {
  const { priority } = created.task;
  const items = created.ready.map(({ delayMs, ...step }) => ({
    ...step,
    delayMs: delayMs ?? 0,
    namespace,
    priority,
  }));
  await deps.dispatcher.dispatch(items).catch((err: unknown) => {
    deps.logger?.warn(
      { err: toError(err), task_id: created.task.id },
      'task created; its first steps could not be dispatched, the scheduler will',
    );
  });
}

/**
 * Validates a create against its template (request, caller key, context, runAt) and computes
 * its identity, without writing anything. The caller sets the trace context (see createSpan).
 * @throws as {@link createTask}, before anything is written
 */
export async function prepareTask(
  pool: Pool,
  input: CreateTaskRequest,
  actor: string,
  options: CreateTaskOptions = {},
): Promise<PreparedTask> {
  const request = parseRequest(input);
  const stored = await lookUpTemplate(pool, request).catch(notCreated);
  if (!stored)
    throw await unknownTemplate(pool, request, options.visibleNamespaces ?? null).catch(notCreated);
  const { template } = stored;
  // Before the context is checked, so a create without its required key is told that first.
  assertCallerKeyGiven({
    strategy: template.identity_strategy,
    namespace: template.namespace,
    name: template.name,
    callerKey: request.idempotencyKey,
  });
  const context = validateContext(template.context_schema, request.context);
  const identityHash = taskIdentityHash({
    strategy: template.identity_strategy,
    namespace: template.namespace,
    name: template.name,
    version: template.version,
    context,
    callerKey: request.idempotencyKey ?? null,
    retryKey: request.retryKey ?? null,
  });
  const runAt = delayedStart(request.runAt);
  // A match through the retry key is the client's own earlier attempt: answer as that attempt would have.
  const replayed = !!request.retryKey && !request.idempotencyKey && template.identity_strategy === 'unique';
  return {
    template,
    replayed,
    task: {
      namedTaskId: stored.id,
      template,
      context,
      identityStrategy: request.idempotencyKey ? 'caller_key' : template.identity_strategy,
      identityHash,
      correlationId: request.correlationId ?? randomUUID(),
      initiator: request.initiator ?? null,
      sourceSystem: request.sourceSystem ?? null,
      reason: request.reason ?? null,
      tags: request.tags ?? [],
      priority: request.priority ?? 0,
      traceContext: null,
      actor,
      runAt,
      scheduleId: options.schedule?.id ?? null,
      scheduleTickAt: options.schedule?.tickAt ?? null,
    },
  };
}

/**
 * Inserts the task. A database failure becomes TaskCreateUnavailableError saying whether an
 * attempt got as far as sending the insert, i.e. whether the task may exist.
 */
function insertOnce(pool: Pool, task: NewTask): Promise<InsertedTask> {
  return insertTaskBatched(pool, task).catch((err: unknown) => {
    if (!isDatabaseUnavailable(err)) throw err;
    throw new TaskCreateUnavailableError(mayHaveTakenEffect(err), { cause: err });
  });
}

/** A database failure before the insert was sent: nothing was written. */
function notCreated(err: unknown): never {
  if (isDatabaseUnavailable(err)) throw new TaskCreateUnavailableError(false, { cause: err });
  throw err;
}

function parseRequest(input: unknown) {
  const parsed = CreateTaskRequestSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: `/${issue.path.join('/')}`,
    rule: issue.code,
    message: issue.message,
  }));
  throw new ValidationError('invalid task request', issues);
}

export async function unknownTemplate(
  pool: Pool,
  ref: { namespace: string; name: string; version?: string | undefined },
  visibleNamespaces: readonly string[] | null,
) {
  const known = (await listTemplateRefs(pool))
    .filter((t) => !visibleNamespaces || visibleNamespaces.includes(t.namespace))
    .map((t) => `${t.namespace}/${t.name}@${t.version}`);
  const wanted = `${ref.namespace}/${ref.name}${ref.version ? `@${ref.version}` : ''}`;
  return new NotFoundError(`unknown template ${wanted}; registered: ${known.join(', ') || 'none'}`);
}
