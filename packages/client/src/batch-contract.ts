/**
 * The wire contract of the workers of a batch group (`GET /v1/tasks/{id}/steps/{step}/batches`);
 * the group's summary on its task is BatchGroupSummarySchema in contract.ts.
 */
import { z } from 'zod';
import { StepStatusSchema } from './contract.ts';
import { nullableTimestamp } from './wire-time.ts';

/** One batch worker. */
export const BatchWorkerSchema = z
  .object({
    id: z.uuid(),
    name: z.string().describe('the batch_worker step name for batch 0, `<name>#<index>` for the others'),
    index: z.number().int(),
    status: StepStatusSchema,
    attempts: z.number().int(),
    cursor: z.unknown().describe("the batch's cursor from the plan"),
    checkpoint: z.unknown().describe('the last checkpoint: { cursor, partial, attempt, at }, or null'),
    results: z.unknown(),
    lastError: z.unknown(),
    startedAt: nullableTimestamp,
    completedAt: nullableTimestamp,
  })
  .meta({ id: 'BatchWorker' });
export type BatchWorker = z.output<typeof BatchWorkerSchema>;

/** Query of `GET /v1/tasks/{id}/steps/{step}/batches`. */
export const ListBatchWorkersQuerySchema = z.strictObject({
  after: z.coerce
    .number()
    .int()
    .min(-1)
    .default(-1)
    .describe('the batch index to list after (nextAfter of the previous page)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  status: StepStatusSchema.optional(),
});
export type ListBatchWorkersQuery = z.input<typeof ListBatchWorkersQuerySchema>;

/** A page of a batch group's workers, in batch order. */
export const BatchWorkerPageSchema = z
  .object({
    workers: z.array(BatchWorkerSchema),
    nextAfter: z.number().int().nullable().describe('pass as `after` for the next page; null on the last'),
  })
  .meta({ id: 'BatchWorkerPage' });
export type BatchWorkerPage = z.output<typeof BatchWorkerPageSchema>;
