import { lookup } from 'node:dns/promises';
import {
  CreatedWebhookSchema,
  CreateWebhookBodySchema,
  ListWebhookDeliveriesQuerySchema,
  WebhookDeliveryPageSchema,
  WebhookListSchema,
  WebhookSchema,
} from '@switchyard/client';
import {
  type FieldIssue,
  generateWebhookSecret,
  isSubscribableEventType,
  NotFoundError,
  privateTargetRefusal,
  ValidationError,
} from '@switchyard/core';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhookDeliveries,
  listWebhooks,
  withTransaction,
} from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertUnrestricted } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { wire } from '../wire.ts';

const WebhookParams = z.strictObject({ id: z.uuid() });

const SUBSCRIPTION =
  'Deliveries are signed POSTs (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature headers; body { type, timestamp, data }); verify them with verifyWebhook of @switchyard/client. A 2xx answer is a delivery; anything else is retried with backoff for at least 24 hours, and a receiver that keeps failing gets its own circuit breaker, webhook:<id>, listed with the other breakers. At least once, in order per task: deduplicate on webhook-id.';

/**
 * Webhook routes (scope admin, a key not restricted to namespaces: a subscription may cover
 * every namespace and the breakers): subscribe a URL to events, list, delete, and read a
 * webhook's deliveries.
 */
export function webhookRoutes(deps: ApiDeps, options: { allowPrivateTargets: boolean }) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.post(
      '/v1/webhooks',
      {
        config: { scope: 'admin' },
        schema: {
          operationId: 'createWebhook',
          tags: ['webhooks'],
          summary: 'Subscribe a URL to events; the answer carries the signing secret, shown this once',
          description: `${SUBSCRIPTION} 400 names the field: an event type that is neither one of Switchyard's nor a handler event name, a URL that is not http(s), a host that does not resolve, a host that is or resolves to a loopback, private or link-local address (unless the server sets SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS=true).`,
          body: CreateWebhookBodySchema,
          response: { 201: CreatedWebhookSchema, ...problems(400, 401, 403, 413, 415, 503) },
        },
      },
      async (request, reply) => {
        assertUnrestricted(request.principal, 'a webhook');
        const { url, events, namespaces } = request.body;
        await checkSubscription(url, events, options.allowPrivateTargets);
        const secret = generateWebhookSecret();
        const webhook = await withTransaction(deps.pool, (client) =>
          createWebhook(client, {
            url,
            events: [...new Set(events)],
            namespaces: namespaces ? [...new Set(namespaces)] : null,
            secret,
            createdBy: request.principal.actor,
          }),
        );
        request.log.info({ webhook_id: webhook.id, url, events }, 'webhook created');
        reply.code(201);
        return wire(CreatedWebhookSchema, { ...webhook, secret });
      },
    );
    app.get(
      '/v1/webhooks',
      {
        config: { scope: 'admin' },
        schema: {
          operationId: 'listWebhooks',
          tags: ['webhooks'],
          summary: 'Every webhook not deleted, oldest first (without secrets)',
          response: { 200: WebhookListSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'listing webhooks');
        return wire(WebhookListSchema, { webhooks: await listWebhooks(deps.pool) });
      },
    );
    app.get(
      '/v1/webhooks/:id',
      {
        config: { scope: 'admin' },
        schema: {
          operationId: 'getWebhook',
          tags: ['webhooks'],
          summary: 'One webhook (a deleted one too, with deletedAt), without its secret',
          params: WebhookParams,
          response: { 200: WebhookSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'reading a webhook');
        return wire(WebhookSchema, await findWebhook(deps, request.params.id));
      },
    );
    app.delete(
      '/v1/webhooks/:id',
      {
        config: { scope: 'admin' },
        schema: {
          operationId: 'deleteWebhook',
          tags: ['webhooks'],
          summary: 'Delete a webhook: nothing more is delivered; its delivery history stays readable',
          description:
            'Its pending deliveries end as failed ("webhook deleted") and its breaker is removed. 404 for an unknown or already deleted webhook.',
          params: WebhookParams,
          response: { 200: WebhookSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'deleting a webhook');
        const { id } = request.params;
        const deleted = await withTransaction(deps.pool, (client) => deleteWebhook(client, id));
        if (!deleted) throw new NotFoundError(`webhook ${id} does not exist or is already deleted`);
        request.log.info({ webhook_id: id }, 'webhook deleted');
        return wire(WebhookSchema, await findWebhook(deps, id));
      },
    );
    app.get(
      '/v1/webhooks/:id/deliveries',
      {
        config: { scope: 'admin' },
        schema: {
          operationId: 'listWebhookDeliveries',
          tags: ['webhooks'],
          summary: "A webhook's deliveries, newest first: status, attempts, the last HTTP status or error",
          params: WebhookParams,
          querystring: ListWebhookDeliveriesQuerySchema,
          response: { 200: WebhookDeliveryPageSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        assertUnrestricted(request.principal, 'reading deliveries');
        const { id } = request.params;
        await findWebhook(deps, id);
        const page = await listWebhookDeliveries(deps.pool, id, {
          limit: request.query.limit,
          before: request.query.cursor ?? null,
        });
        return wire(WebhookDeliveryPageSchema, page);
      },
    );
  };
}

async function findWebhook(deps: ApiDeps, id: string) {
  const webhook = await getWebhook(deps.pool, id);
  if (!webhook) throw new NotFoundError(`webhook ${id} does not exist`);
  return webhook;
}

/**
 * Refuses a subscription that could never be delivered, naming the field: an event type that
 * is neither Switchyard's nor a handler event name, a URL that is not http(s), a host that
 * does not resolve (checked now, with the resolver of this process), and, unless allowed, a
 * host that is or resolves to a private address (server-side request forgery).
 */
async function checkSubscription(
  url: string,
  events: readonly string[],
  allowPrivateTargets: boolean,
): Promise<void> {
  const issues: FieldIssue[] = events.flatMap((type, index) =>
    isSubscribableEventType(type)
      ? []
      : [
          {
            path: `/events/${index}`,
            rule: 'event_type',
            message: `"${type}" is not an event type: one of task.completed, task.failed, task.cancelled, step.failed, step.resolved, breaker.opened, breaker.closed, or a handler event name (dotted lowercase words, e.g. user.registered)`,
          },
        ],
  );
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    issues.push({ path: '/url', rule: 'http_url', message: `"${url}" is not a URL` });
  }
  if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    issues.push({
      path: '/url',
      rule: 'http_url',
      message: `the URL must be http or https, not ${parsed.protocol}`,
    });
    parsed = null;
  }
  if (parsed && (parsed.username || parsed.password)) {
    issues.push({ path: '/url', rule: 'http_url', message: 'the URL must not carry credentials' });
    parsed = null;
  }
  if (parsed) {
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    try {
      const addresses = await lookup(host, { all: true });
      // Checked again at each delivery, at the address connected to (a name may change).
      const refusal = allowPrivateTargets
        ? null
        : (addresses.map(({ address }) => privateTargetRefusal(host, address)).find((r) => r !== null) ??
          null);
      if (refusal) issues.push({ path: '/url', rule: 'public_host', message: refusal });
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'no address';
      issues.push({
        path: '/url',
        rule: 'resolvable_host',
        message: `the host ${host} does not resolve (${code})`,
      });
    }
  }
  if (issues.length > 0) throw new ValidationError('invalid webhook', issues);
}
