import { randomUUID } from 'node:crypto';
import {
  NotFoundError,
  type TaskTemplate,
  taskIdentityHash,
  ValidationError,
  validateContext,
} from '@switchyard/core';
import {
  findTemplate,
  insertTask,
  listTemplateRefs,
  type Pool,
  type TaskRow,
  withRetries,
} from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import { inSpan, trace, context as traceContextApi, traceparentOf, tracer } from '@switchyard/tracing';
import { z } from 'zod';

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
});
export type CreateTaskRequest = z.input<typeof CreateTaskRequestSchema>;

export type CreatedTask = { task: TaskRow; duplicate: boolean; template: TaskTemplate };

/** How the caller is limited; the API passes its key's restrictions. */
export type CreateTaskOptions = {
  /**
   * Namespaces whose templates an unknown-template error may list (default null: every one),
   * so a key restricted to some namespaces does not learn the others' templates.
   */
  visibleNamespaces?: readonly string[] | null;
};

/**
 * Creates a task from a registered template in one statement (task, steps, edges, initial
 * transitions) and dispatches its root steps right after commit.
 * @throws ValidationError naming each bad field (request or context); NotFoundError for an unknown template.
 */
export async function createTask(
  deps: { pool: Pool; dispatcher: StepDispatcher },
  input: CreateTaskRequest,
  actor = 'client',
  options: CreateTaskOptions = {},
): Promise<CreatedTask> {
  const request = parseRequest(input);
  const stored = await findTemplate(deps.pool, request);
  if (!stored) throw await unknownTemplate(deps.pool, request, options.visibleNamespaces ?? null);
  const { template } = stored;
  if (template.identity_strategy === 'caller_key' && !request.idempotencyKey) {
    throw new ValidationError('invalid task request', [
      {
        path: '/idempotencyKey',
        rule: 'required',
        message: `template ${template.name} deduplicates by a caller-provided key`,
      },
    ]);
  }
  const context = validateContext(template.context_schema, request.context);
  const identityHash = taskIdentityHash({
    strategy: template.identity_strategy,
    namespace: template.namespace,
    name: template.name,
    version: template.version,
    context,
    callerKey: request.idempotencyKey ?? null,
  });
  const span = tracer().startSpan('task.create', {
    attributes: {
      'switchyard.namespace': template.namespace,
      'switchyard.task': template.name,
      'switchyard.version': template.version,
    },
  });
  const traceContext = traceparentOf(trace.setSpan(traceContextApi.active(), span));
  const created = await inSpan(span, () =>
    withRetries(() =>
      insertTask(deps.pool, {
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
        traceContext,
        actor,
      }),
    ),
  );
  span.setAttribute('switchyard.task_id', created.task.id);
  await deps.dispatcher.dispatch(created.ready);
  return { task: created.task, duplicate: created.duplicate, template };
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

async function unknownTemplate(
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
