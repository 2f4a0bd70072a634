import { randomUUID } from 'node:crypto';
import axios from 'axios';
import type { z } from 'zod';
import { type BatchWorkerPage, BatchWorkerPageSchema, type ListBatchWorkersQuery } from './batch-contract.ts';
import {
  type Breaker,
  type BreakerAction,
  type BreakerDetail,
  BreakerDetailSchema,
  BreakerListSchema,
  BreakerSchema,
} from './breaker-contract.ts';
import {
  type Attempt,
  AttemptListSchema,
  type CreateTaskBody,
  type CreateTaskResponse,
  CreateTaskResponseSchema,
  type ListTasksQuery,
  type PostEventBody,
  type PostEventResponse,
  PostEventResponseSchema,
  type Queue,
  QueueListSchema,
  type ResolveBody,
  type Task,
  type TaskAttempt,
  TaskAttemptListSchema,
  type TaskCounts,
  type TaskCountsQuery,
  TaskCountsSchema,
  type TaskPage,
  TaskPageSchema,
  TaskSchema,
  type TemplateDetail,
  TemplateDetailSchema,
  TemplateListSchema,
  type TemplateSummary,
  type Transition,
  TransitionListSchema,
} from './contract.ts';
import {
  type EventPage,
  EventPageSchema,
  type ListEventsQuery,
  type SwitchyardEvent,
} from './event-contract.ts';
import { type StreamTaskEventsOptions, streamTaskEvents } from './event-stream.ts';
import { limitCalls } from './limit-client.ts';
import { scheduleCalls } from './schedule-client.ts';
import { type Call, request, type SwitchyardClientOptions } from './transport.ts';
import { type WaitOptions, waitForTask } from './wait-for-task.ts';
import {
  type CreatedWebhook,
  CreatedWebhookSchema,
  type CreateWebhookBody,
  type ListWebhookDeliveriesQuery,
  type Webhook,
  type WebhookDeliveryPage,
  WebhookDeliveryPageSchema,
  WebhookListSchema,
  WebhookSchema,
} from './webhook-contract.ts';

export type { SwitchyardClientOptions } from './transport.ts';
export type { WaitOptions } from './wait-for-task.ts';

/** A typed client of Switchyard's HTTP API. */
export type SwitchyardClient = ReturnType<typeof createSwitchyardClient>;

/**
 * Creates a client. Every call resolves to the parsed response, or throws SwitchyardApiError
 * (with the problem details) or SwitchyardNetworkError. Reads and creates are retried on
 * network errors and 5xx (a create keeps its key across them, so none is made twice).
 */
export function createSwitchyardClient(options: SwitchyardClientOptions) {
  const http = axios.create({
    baseURL: options.baseUrl.replace(/\/+$/, ''),
    timeout: options.timeoutMs ?? 10_000,
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    // Statuses are turned into errors here, with the problem body, not by axios.
    validateStatus: () => true,
  });
  const send = <S extends z.ZodType>(call: Call, schema: S, idempotent: boolean) =>
    request(http, options, call, idempotent).then((response) => schema.parse(response.data) as z.output<S>);
  const enc = encodeURIComponent;

  return {
    /**
     * Starts a task; `duplicate` says an existing task with the same identity was returned.
     * Retried like a read: every attempt carries the same key, `idempotencyKey` if given, else
     * a `Switchyard-Retry-Key` made for this call (the server dedupes a `unique`-identity
     * template's retries by it; `strict` and `caller_key` identities dedupe them already). So a
     * create whose answer was lost (a dropped connection, a 503 `outcome_unknown`) is never made
     * twice; a retry that finds the task an earlier attempt made returns it.
     * `runAt` (or `body.runAt`) delays the start: the task exists at once, its steps start then.
     */
    createTask(
      body: CreateTaskBody,
      opts: { idempotencyKey?: string; runAt?: Date | string } = {},
    ): Promise<CreateTaskResponse> {
      const headers = opts.idempotencyKey
        ? { 'idempotency-key': opts.idempotencyKey }
        : { 'switchyard-retry-key': randomUUID() };
      const runAt = opts.runAt instanceof Date ? opts.runAt.toISOString() : opts.runAt;
      const sent = runAt ? { ...body, runAt } : body;
      return send({ method: 'POST', path: '/v1/tasks', body: sent, headers }, CreateTaskResponseSchema, true);
    },
    ...scheduleCalls(send),
    ...limitCalls(send),
    /**
     * Posts an event: starts every template whose triggers list it, the payload as context.
     * Retried like a create when `idempotencyKey` is given (a replay returns the first post's
     * tasks); without one it is sent once.
     */
    postEvent(body: PostEventBody, opts: { idempotencyKey?: string } = {}): Promise<PostEventResponse> {
      const headers = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
      return send(
        { method: 'POST', path: '/v1/events', body, headers },
        PostEventResponseSchema,
        !!opts.idempotencyKey,
      );
    },
    /** A task with its steps. */
    getTask: (id: string): Promise<Task> =>
      send({ method: 'GET', path: `/v1/tasks/${enc(id)}` }, TaskSchema, true),
    /** One page of tasks, newest first; pass `nextCursor` back as `cursor` for the next page. */
    listTasks: (query: ListTasksQuery = {}): Promise<TaskPage> =>
      send({ method: 'GET', path: '/v1/tasks', query }, TaskPageSchema, true),
    /** How many tasks match the filters, per status. */
    countTasks: (query: TaskCountsQuery = {}): Promise<TaskCounts> =>
      send({ method: 'GET', path: '/v1/tasks/counts', query }, TaskCountsSchema, true),
    /** The task's audit trail. */
    getTransitions: async (id: string): Promise<Transition[]> =>
      (await send({ method: 'GET', path: `/v1/tasks/${enc(id)}/transitions` }, TransitionListSchema, true))
        .transitions,
    /** The attempt history of one step. */
    getAttempts: async (id: string, step: string): Promise<Attempt[]> =>
      (
        await send(
          { method: 'GET', path: `/v1/tasks/${enc(id)}/steps/${enc(step)}/attempts` },
          AttemptListSchema,
          true,
        )
      ).attempts,
    /** Every attempt of every step of the task, in the order they started. */
    getTaskAttempts: async (id: string): Promise<TaskAttempt[]> =>
      (await send({ method: 'GET', path: `/v1/tasks/${enc(id)}/attempts` }, TaskAttemptListSchema, true))
        .attempts,
    /**
     * A page of the workers of a batch group (`step` is the template's batch_worker step), in
     * batch order; pass `nextAfter` back as `after` for the next page.
     */
    listBatchWorkers: (
      id: string,
      step: string,
      query: ListBatchWorkersQuery = {},
    ): Promise<BatchWorkerPage> =>
      send(
        { method: 'GET', path: `/v1/tasks/${enc(id)}/steps/${enc(step)}/batches`, query },
        BatchWorkerPageSchema,
        true,
      ),
    /** Cancels a task; returns it cancelled. */
    cancelTask: (id: string, reason?: string): Promise<Task> =>
      send({ method: 'POST', path: `/v1/tasks/${enc(id)}/cancel`, body: { reason } }, TaskSchema, false),
    /** Gives a failed step fresh attempts; the task resumes from there. */
    retryStep: (id: string, step: string, reason?: string): Promise<Task> =>
      send(
        { method: 'POST', path: `/v1/tasks/${enc(id)}/steps/${enc(step)}/retry`, body: { reason } },
        TaskSchema,
        false,
      ),
    /**
     * Resolves a step by hand, with optional results for its dependents. A decision step needs
     * `chosen`: the steps it activates (`[]` for none); the others are skipped.
     */
    resolveStep: (id: string, step: string, body: ResolveBody = {}): Promise<Task> =>
      send(
        { method: 'POST', path: `/v1/tasks/${enc(id)}/steps/${enc(step)}/resolve`, body },
        TaskSchema,
        false,
      ),
    /**
     * Waits until the task reaches one of `until` (default: a terminal status), following its
     * event stream; polls instead when the stream cannot be opened or drops, and when `until`
     * names a status no event announces (pending, in_progress).
     */
    waitForTask: (id: string, wait: WaitOptions = {}): Promise<Task> =>
      waitForTask(
        (taskId) => send({ method: 'GET', path: `/v1/tasks/${enc(taskId)}` }, TaskSchema, true),
        (taskId, opts) => streamTaskEvents(http, options.correlationId, taskId, opts),
        id,
        wait,
      ),
    /**
     * A task's events as they happen: the past ones, then each new one, until the server ends
     * the stream after the task's terminal event (task.completed, task.cancelled, task.failed;
     * a failed task may be retried: resume with `lastEventId` to follow it). Abort with `signal`.
     */
    streamTaskEvents: (id: string, opts: StreamTaskEventsOptions = {}): AsyncIterable<SwitchyardEvent> =>
      streamTaskEvents(http, options.correlationId, id, opts),
    /** A page of the event log, oldest first; pass `nextCursor` back as `after` for the next page. */
    listEvents: (query: ListEventsQuery = {}): Promise<EventPage> =>
      send({ method: 'GET', path: '/v1/events', query }, EventPageSchema, true),
    /** Registered templates with their versions. */
    listTemplates: async (): Promise<TemplateSummary[]> =>
      (await send({ method: 'GET', path: '/v1/templates' }, TemplateListSchema, true)).templates,
    /** Every version of one template, with steps and context schema. */
    getTemplate: (namespace: string, name: string): Promise<TemplateDetail> =>
      send(
        { method: 'GET', path: `/v1/templates/${enc(namespace)}/${enc(name)}` },
        TemplateDetailSchema,
        true,
      ),
    /** Every circuit breaker. */
    listBreakers: async (): Promise<Breaker[]> =>
      (await send({ method: 'GET', path: '/v1/breakers' }, BreakerListSchema, true)).breakers,
    /** One breaker with its transition log (and the evidence of each) and its held steps. */
    getBreaker: (system: string): Promise<BreakerDetail> =>
      send({ method: 'GET', path: `/v1/breakers/${enc(system)}` }, BreakerDetailSchema, true),
    /** Every step type's queue: depth, open steps and the live workers consuming it. */
    listQueues: async (): Promise<Queue[]> =>
      (await send({ method: 'GET', path: '/v1/queues' }, QueueListSchema, true)).queues,
    /** Forces a breaker open or closed, or hands it back to the history (`reset`). */
    forceBreaker: (system: string, action: BreakerAction, reason: string): Promise<Breaker> =>
      send(
        { method: 'POST', path: `/v1/breakers/${enc(system)}/${action}`, body: { reason } },
        BreakerSchema,
        false,
      ),
    /** Subscribes a URL to events (scope admin); the answer carries the signing secret, shown this once. */
    createWebhook: (body: CreateWebhookBody): Promise<CreatedWebhook> =>
      send({ method: 'POST', path: '/v1/webhooks', body }, CreatedWebhookSchema, false),
    /** Every webhook not deleted (without secrets). */
    listWebhooks: async (): Promise<Webhook[]> =>
      (await send({ method: 'GET', path: '/v1/webhooks' }, WebhookListSchema, true)).webhooks,
    /** One webhook (a deleted one too, with deletedAt). */
    getWebhook: (id: string): Promise<Webhook> =>
      send({ method: 'GET', path: `/v1/webhooks/${enc(id)}` }, WebhookSchema, true),
    /** Deletes a webhook: nothing more is delivered; its delivery history stays readable. */
    deleteWebhook: (id: string): Promise<Webhook> =>
      send({ method: 'DELETE', path: `/v1/webhooks/${enc(id)}` }, WebhookSchema, false),
    /** A webhook's deliveries, newest first; pass `nextCursor` back as `cursor` for the next page. */
    listWebhookDeliveries: (
      id: string,
      query: ListWebhookDeliveriesQuery = {},
    ): Promise<WebhookDeliveryPage> =>
      send(
        { method: 'GET', path: `/v1/webhooks/${enc(id)}/deliveries`, query },
        WebhookDeliveryPageSchema,
        true,
      ),
  };
}
