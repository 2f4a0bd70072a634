/**
 * @switchyard/worker: what a team's step handler code imports. Define handlers, throw the step
 * errors, build or load templates, and (to run a worker inside your own process rather than
 * with `switchyard worker`) start one.
 *
 * Handler modules should import only from here: the `switchyard worker` command loads them
 * beside this same package, so `RetryableError` and `PermanentError` are the classes the worker
 * checks for.
 */

export {
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookPayload,
  WebhookVerificationError,
} from '@switchyard/client';
export {
  ConfigError,
  PermanentError,
  parseTemplateYaml,
  RetryableError,
  type TaskTemplate,
  templateBuilder,
  ValidationError,
} from '@switchyard/core';
export { loadHandlerModules, loadTemplateFiles, type RunningWorker } from '@switchyard/engine';
export {
  type ApiClient,
  type ApiRequest,
  type ApiResponse,
  type ApiStepHandler,
  type ApiStepHandlerOptions,
  type BatchContext,
  classifyHttpResponse,
  classifyTransportError,
  type DecisionResult,
  decide,
  defineApiStepHandler,
  defineStepHandler,
  HttpConflictError,
  type HttpHeaders,
  type StepHandler,
  type StepHandlerContext,
  type StepLogger,
} from '@switchyard/handler-kit';
export { type StartWorkerOptions, startWorker } from './start-worker.ts';
