/**
 * What a step's handler is given: the handler to run (its fallback while the breaker is open, if
 * the template asks for it) and its context (the task, the step, its parents' results, the
 * events it may publish).
 */
import { PermanentError } from '@switchyard/core';
import type { ClaimedStep } from '@switchyard/db';
import type { StepHandler } from '@switchyard/handler-kit';
import type { Logger } from 'pino';
import type { CompiledWorkerOptions } from './worker-options.ts';

/**
 * The handler to run: its fallback when the step was claimed while its breaker is open (the
 * template asked for `on_breaker_open: fallback`), marking the result `fallback_used: true`.
 */
export function handlerFor(options: CompiledWorkerOptions, step: ClaimedStep): StepHandler {
  const handler = options.registry.get(step.handler)!;
  if (!step.fallback) return handler;
  const fallback = handler.fallback;
  return {
    name: handler.name,
    async run(ctx) {
      if (!fallback) {
        throw new PermanentError(`handler ${handler.name} has no fallback for on_breaker_open: fallback`, {
          errorCode: 'fallback_missing',
        });
      }
      const result = await fallback(ctx);
      return isPlainObject(result)
        ? { ...result, fallback_used: true }
        : { value: result, fallback_used: true };
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a handler said about its attempt beyond its result: whether it called its service. */
export type AttemptNotes = { called: boolean };

export function handlerContext(
  step: ClaimedStep,
  log: Logger,
  published: Map<string, unknown>,
  notes: AttemptNotes,
) {
  return {
    task: {
      id: step.taskId,
      namespace: step.namespace,
      name: step.taskName,
      version: step.taskVersion,
      context: step.context,
      correlationId: step.correlationId,
    },
    step: {
      id: step.id,
      name: step.name,
      attempt: step.attempt,
      maxAttempts: step.maxAttempts,
      dependentSystem: step.dependentSystem,
      config: step.handlerConfig,
    },
    parents: step.parentResults,
    idempotencyKey: `${step.taskId}.${step.name}`,
    log,
    publish(name: string, payload: unknown) {
      if (!step.publishes.some((event) => event.name === name)) {
        throw new PermanentError(`step ${step.name} does not declare the event ${name} under publishes`, {
          errorCode: 'event_not_declared',
        });
      }
      published.set(name, payload);
    },
    noServiceCall() {
      notes.called = false;
    },
  };
}
