/**
 * What step authors import: define a handler, throw the step errors, read the context.
 * Depends only on @switchyard/core so handler code stays free of database and queue details.
 */
export { type DecisionResult, decide, PermanentError, RetryableError } from '@switchyard/core';
export {
  type ApiClient,
  type ApiRequest,
  type ApiResponse,
  type ApiStepHandler,
  type ApiStepHandlerOptions,
  classifyHttpResponse,
  classifyTransportError,
  defineApiStepHandler,
  type FailureOutcome,
  HttpConflictError,
  type HttpHeaders,
  type HttpOutcome,
  parseRetryAfter,
  toStepError,
  traceparentFor,
} from './api-handler.ts';
export {
  type BatchContext,
  defineStepHandler,
  type StepHandler,
  type StepHandlerContext,
  type StepLogger,
} from './handler.ts';
