/**
 * The wire contract of bulkheads: a dependent system's concurrency and rate limit, what it has
 * in flight and waiting, and the operators' override (`/v1/limits`).
 */
import { z } from 'zod';
import { timestamp } from './wire-time.ts';

export const LimitValuesSchema = z
  .object({
    maxConcurrent: z
      .number()
      .int()
      .nullable()
      .describe('calls in flight at once across the fleet; null: no limit'),
    rate: z.number().nullable().describe('calls started per second across the fleet; null: no limit'),
    burst: z.number().int().nullable().describe('calls that may start at once after a quiet spell'),
  })
  .meta({ id: 'LimitValues' });

export const ServiceLimitSchema = z
  .object({
    dependentSystem: z.string(),
    limit: LimitValuesSchema.describe('in force: the override if any, else the configured limit'),
    configured: LimitValuesSchema.nullable().describe("from the scheduler's configuration"),
    override: LimitValuesSchema.extend({ reason: z.string(), actor: z.string(), at: z.string() })
      .nullable()
      .describe("an operator's override"),
    inFlight: z.number().int().describe('steps running under an unexpired lease'),
    waiting: z
      .object({ concurrency: z.number().int(), rate: z.number().int() })
      .describe('steps held by the limit, by hold reason'),
    reserved: z.number().int().describe('steps released for a freed slot and not claimed yet'),
    updatedAt: timestamp,
  })
  .meta({ id: 'ServiceLimit' });
export type ServiceLimit = z.output<typeof ServiceLimitSchema>;
export const ServiceLimitListSchema = z
  .object({ limits: z.array(ServiceLimitSchema) })
  .meta({ id: 'ServiceLimitList' });

export const ServiceLimitChangeSchema = z
  .object({
    limit: LimitValuesSchema,
    source: z.enum(['config', 'operator']),
    reason: z.string(),
    actor: z.string(),
    at: timestamp,
  })
  .meta({ id: 'ServiceLimitChange' });

/** Response of `GET /v1/limits/{system}`: the limit and the changes of the limit in force. */
export const ServiceLimitDetailSchema = z
  .object({
    limit: ServiceLimitSchema,
    changes: z.array(ServiceLimitChangeSchema).describe('newest first, at most 50'),
  })
  .meta({ id: 'ServiceLimitDetail' });
export type ServiceLimitDetail = z.output<typeof ServiceLimitDetailSchema>;

/**
 * Body of `POST /v1/limits/{system}/override`: the limit to put in force instead of the
 * configured one (an omitted or null field is not limited), and why (audited).
 */
export const LimitOverrideBodySchema = z
  .strictObject({
    maxConcurrent: z.number().int().min(1).max(1_000_000).nullable().optional(),
    rate: z.number().gt(0).max(1_000_000).nullable().optional(),
    burst: z.number().int().min(1).max(1_000_000).nullable().optional(),
    reason: z.string().min(1).max(1000),
  })
  .superRefine((body, ctx) => {
    if (body.burst != null && body.rate == null) {
      ctx.addIssue({ code: 'custom', path: ['burst'], message: 'burst needs a rate' });
    }
  });
export type LimitOverrideBody = z.input<typeof LimitOverrideBodySchema>;

/** Body of `POST /v1/limits/{system}/reset`: why the override is removed (audited). */
export const LimitResetBodySchema = z.strictObject({ reason: z.string().min(1).max(1000) });
