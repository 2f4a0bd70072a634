/**
 * The wire contract of the circuit breakers (GET /v1/breakers, GET /v1/breakers/{system} and the
 * operator's open, close and reset). See contract.ts for how the contract is used.
 */
import { z } from 'zod';
import { nullableTimestamp, timestamp } from './wire-time.ts';

export const BreakerSchema = z
  .object({
    dependentSystem: z.string(),
    state: z.enum(['closed', 'open', 'half_open']),
    since: timestamp,
    nextProbeAt: nullableTimestamp,
    tripCount: z.number().int(),
    forced: z.enum(['open', 'closed']).nullable(),
    holdUntil: nullableTimestamp,
    policy: z.record(z.string(), z.unknown()),
    releaseRate: z.number().int(),
    recent: z.object({ calls: z.number().int(), failures: z.number().int(), windowMs: z.number().int() }),
    heldSteps: z.number().int(),
    probesInFlight: z.number().int(),
  })
  .meta({ id: 'Breaker' });
export type Breaker = z.output<typeof BreakerSchema>;
export const BreakerListSchema = z.object({ breakers: z.array(BreakerSchema) });
export const BreakerTransitionSchema = z
  .object({
    id: z.string(),
    from: z.string().nullable(),
    to: z.string(),
    reason: z.string(),
    actor: z.string(),
    evidence: z.unknown().describe("window counts and the tripping attempts, or the operator's reason"),
    at: timestamp,
  })
  .meta({ id: 'BreakerTransition' });
export type BreakerTransition = z.output<typeof BreakerTransitionSchema>;

export const HeldStepSchema = z
  .object({
    taskId: z.uuid(),
    namespace: z.string(),
    step: z.string(),
    attempts: z.number().int(),
    holdReason: z.string().nullable(),
    holdUntil: nullableTimestamp,
    heldSince: timestamp,
  })
  .meta({ id: 'HeldStep' });
export type HeldStep = z.output<typeof HeldStepSchema>;

/** Response of `GET /v1/breakers/{system}`: the breaker, its newest transitions and held steps. */
export const BreakerDetailSchema = z
  .object({
    breaker: BreakerSchema,
    transitions: z.array(BreakerTransitionSchema).describe('newest first, at most 50'),
    heldSteps: z.array(HeldStepSchema).describe('longest held first, at most 50'),
  })
  .meta({ id: 'BreakerDetail' });
export type BreakerDetail = z.output<typeof BreakerDetailSchema>;

/** Body of `POST /v1/breakers/{system}/open|close|reset`: the reason is required (it is audited). */
export const BreakerActionBodySchema = z.strictObject({ reason: z.string().min(1).max(1000) });
export const BreakerActionSchema = z.enum(['open', 'close', 'reset']);
export type BreakerAction = z.output<typeof BreakerActionSchema>;
