/**
 * @switchyard/client: a typed client of Switchyard's HTTP API, and the wire contract (zod
 * schemas) that the server validates and serializes with.
 */
export * from './batch-contract.ts';
export * from './breaker-contract.ts';
export {
  createSwitchyardClient,
  type SwitchyardClient,
  type SwitchyardClientOptions,
  type WaitOptions,
} from './client.ts';
export * from './contract.ts';
export { SwitchyardApiError, SwitchyardNetworkError, WaitTimeoutError } from './errors.ts';
export * from './event-contract.ts';
export { parseSse, type SseMessage, type StreamTaskEventsOptions } from './event-stream.ts';
export * from './limit-contract.ts';
export * from './schedule-contract.ts';
export {
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookPayload,
  WebhookVerificationError,
} from './verify-webhook.ts';
export * from './webhook-contract.ts';
