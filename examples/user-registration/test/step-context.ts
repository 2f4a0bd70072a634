/**
 * A step handler's context as the worker builds it, for running the example's handlers against
 * the services without a worker: the task, the step's config (its service's URL) and its parents.
 */
import type { StepHandler, StepHandlerContext } from '@switchyard/handler-kit';
import type { RegistrationContext } from '../src/handlers.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

export function stepCtx(
  step: string,
  baseUrl: string,
  context: RegistrationContext,
  parents: Record<string, unknown> = {},
  taskId = 'task-1',
): StepHandlerContext<RegistrationContext> {
  return {
    task: {
      id: taskId,
      namespace: 'user_management',
      name: 'user_registration',
      version: '1.0.0',
      context,
      correlationId: `corr-${taskId}`,
    },
    step: {
      id: `${taskId}-${step}`,
      name: step,
      attempt: 1,
      maxAttempts: 3,
      dependentSystem: 'x',
      config: { base_url: baseUrl },
    },
    parents,
    idempotencyKey: `${taskId}.${step}`,
    signal: new AbortController().signal,
    log: silent,
    publish() {},
    noServiceCall() {},
    batch: null,
    async checkpoint() {},
  };
}

export async function run<T>(
  handler: StepHandler<RegistrationContext, T>,
  ctx: StepHandlerContext<RegistrationContext>,
) {
  return handler.run(ctx);
}

export async function failureOf(result: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await result;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the handler to fail');
}
