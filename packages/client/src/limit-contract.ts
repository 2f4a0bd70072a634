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
    adaptive: z
      .object({
        min: z.number().int(),
        max: z.number().int(),
        limit: z
          .number()
          .int()
          .nullable()
          .describe('the limit the limiter chose last; null before its first change'),
        baselineLatencyMs: z
          .number()
          .int()
          .nullable()
          .describe("the service's healthy latency the limiter measures against"),
        paused: z.boolean().describe("an operator's override is in force: the limiter waits"),
      })
      .nullable()
      .describe(
        'the adaptive limiter (null: a static limit): it moves maxConcurrent between min and max from the recorded calls',
      ),
    updatedAt: timestamp,
  })
  .meta({ id: 'ServiceLimit' });
export type ServiceLimit = z.output<typeof ServiceLimitSchema>;
export const ServiceLimitListSchema = z
  .object({ limits: z.array(ServiceLimitSchema) })
  .meta({ id: 'ServiceLimitList' });

/** What the adaptive limiter judged a change on. */
export const AdaptiveEvidenceSchema = z
  .object({
    windowMs: z.number().int(),
    calls: z.number().int().describe('calls that reached the service in the window'),
    timeouts: z.number().int(),
    overloadErrors: z.number().int().describe('5xx, 429 or no answer'),
    p50Ms: z.number().nullable().describe('median latency of the successful calls'),
    p90Ms: z.number().nullable(),
    baselineMs: z.number().nullable(),
    inFlight: z.number().int(),
    waiting: z.boolean().describe('steps waited for the limit'),
    from: z.number().int(),
    to: z.number().int(),
  })
  .meta({ id: 'AdaptiveEvidence' });

export const ServiceLimitChangeSchema = z
  .object({
    limit: LimitValuesSchema,
    source: z
      .enum(['config', 'operator', 'adaptive'])
      .describe("the scheduler's configuration, an operator, or the adaptive limiter"),
    reason: z.string(),
    actor: z.string(),
    evidence: AdaptiveEvidenceSchema.nullable().describe(
      "the adaptive limiter's evidence; null for other sources",
    ),
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
