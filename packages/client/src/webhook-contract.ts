/**
 * The wire contract of the webhook routes (scope `admin`), beside contract.ts and in its style:
 * the server validates and serializes with these schemas, the client's types come from them.
 */
import { z } from 'zod';
import { pageSchema } from './page-schema.ts';
import { timestamp } from './wire-time.ts';

/** Body of `POST /v1/webhooks`. */
export const CreateWebhookBodySchema = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .max(2000)
      .describe(
        'http(s) URL the events are POSTed to; its host must resolve, to public addresses only unless the server sets SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS',
      ),
    events: z
      .array(z.string().min(1).max(200))
      .min(1)
      .max(100)
      .describe(
        'event types: task.completed, task.failed, task.cancelled, step.failed, step.resolved, breaker.opened, breaker.closed, or names handlers publish (user.registered)',
      ),
    namespaces: z
      .array(z.string().min(1).max(100))
      .min(1)
      .max(100)
      .optional()
      .describe('only events of these namespaces; omitted: every namespace, and breaker events'),
  })
  .meta({ id: 'CreateWebhookBody' });
export type CreateWebhookBody = z.input<typeof CreateWebhookBodySchema>;

export const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    namespaces: z.array(z.string()).nullable(),
    createdBy: z.string(),
    createdAt: timestamp,
    deletedAt: timestamp.nullable(),
  })
  .meta({ id: 'Webhook' });
export type Webhook = z.output<typeof WebhookSchema>;

/** The answer to a create: the webhook and its signing secret, shown this once. */
export const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z
    .string()
    .describe('whsec_ + base64: verify every delivery with it (verifyWebhook); not shown again'),
}).meta({ id: 'CreatedWebhook' });
export type CreatedWebhook = z.output<typeof CreatedWebhookSchema>;

export const WebhookListSchema = z.object({ webhooks: z.array(WebhookSchema) }).meta({ id: 'WebhookList' });

export const WebhookDeliverySchema = z
  .object({
    id: z.string(),
    eventId: z.string().describe('the webhook-id header of every attempt'),
    type: z.string(),
    taskId: z.string().nullable(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    held: z.boolean().describe("waiting for the receiver's breaker (open, or half-open and not a probe)"),
    nextAttemptAt: timestamp.nullable(),
    lastHttpStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: timestamp,
    deliveredAt: timestamp.nullable(),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.output<typeof WebhookDeliverySchema>;

export const ListWebhookDeliveriesQuerySchema = z.strictObject({
  cursor: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional()
    .describe('nextCursor of the previous page'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListWebhookDeliveriesQuery = z.input<typeof ListWebhookDeliveriesQuerySchema>;

export const WebhookDeliveryPageSchema = pageSchema(
  'deliveries',
  WebhookDeliverySchema,
  'WebhookDeliveryPage',
);
export type WebhookDeliveryPage = z.output<typeof WebhookDeliveryPageSchema>;
