/**
 * Tasks started by an event: every template whose latest version lists the event under
 * `triggers` gets a task, with the event's payload as its context.
 */
import {
  EVENT_NAME_PATTERN,
  type FieldIssue,
  isLifecycleEventType,
  missingCallerKeyIssue,
  type TaskTemplate,
  ValidationError,
  validateContext,
} from '@switchyard/core';
import { findTriggeredTemplates, type Pool } from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';
import { type CreatedTask, createTask } from './create-task.ts';

/** An event posted by another service. */
export type IncomingEvent = {
  name: string;
  payload: unknown;
  /**
   * Makes posting the event again start nothing new: each template's task is created with this
   * key as its caller key, so a replay returns the tasks the first post made.
   */
  idempotencyKey?: string | null;
};

/**
 * Starts the tasks an event triggers. The payload is checked against every triggered
 * template's context schema before any task is created, so a payload one of them refuses
 * starts none. Each task is its own create (it may share a statement with other creates of
 * the process, each answered as if alone): after a failure part-way, posting the event again
 * with the same idempotency key creates only the missing ones (without a key, templates
 * whose identity strategy is `strict` deduplicate on the payload, `unique` ones do not).
 * @throws ValidationError for a malformed or reserved name, or a payload a template refuses
 *   (paths under `/payload`, the template named in the message).
 */
export async function startTasksForEvent(
  deps: { pool: Pool; dispatcher: StepDispatcher; logger?: Logger },
  event: IncomingEvent,
  actor: string,
  options: { namespaces?: readonly string[] | null } = {},
): Promise<CreatedTask[]> {
  checkName(event.name);
  const triggered = await findTriggeredTemplates(deps.pool, event.name, options.namespaces ?? null);
  const issues = triggered.flatMap(({ template }) => payloadIssues(template, event));
  if (issues.length > 0) throw new ValidationError(`event ${event.name} cannot start its tasks`, issues);
  const created: CreatedTask[] = [];
  for (const { template } of triggered) {
    created.push(
      await createTask(
        deps,
        {
          namespace: template.namespace,
          name: template.name,
          version: template.version,
          context: event.payload,
          reason: `event ${event.name}`,
          ...(event.idempotencyKey ? { idempotencyKey: event.idempotencyKey } : {}),
        },
        actor,
        { visibleNamespaces: options.namespaces ?? null },
      ),
    );
  }
  return created;
}

function checkName(name: string): void {
  const issue = (rule: string, message: string) =>
    new ValidationError('invalid event', [{ path: '/name', rule, message }]);
  if (!EVENT_NAME_PATTERN.test(name) || name.length > 200) {
    throw issue('pattern', 'must be dotted lowercase words, e.g. "user.signed_up"');
  }
  if (isLifecycleEventType(name))
    throw issue('reserved_event', `"${name}" is an event Switchyard publishes itself`);
}

/** Why `template` cannot start from this event: its context schema refuses the payload, or it needs a caller key. */
function payloadIssues(template: TaskTemplate, event: IncomingEvent): FieldIssue[] {
  const label = `${template.namespace}/${template.name}@${template.version}`;
  const missingKey = missingCallerKeyIssue({
    strategy: template.identity_strategy,
    namespace: template.namespace,
    name: template.name,
    callerKey: event.idempotencyKey,
  });
  if (missingKey) return [missingKey];
  try {
    validateContext(template.context_schema, event.payload);
    return [];
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.issues.map((issue) => ({
      ...issue,
      path: `/payload${issue.path}`,
      message: `${issue.message} (template ${label})`,
    }));
  }
}
