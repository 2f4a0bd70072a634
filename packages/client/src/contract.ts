/**
 * The wire contract of Switchyard's HTTP API, as zod schemas. The server validates requests and
 * serializes responses with these very schemas (and derives its OpenAPI document from them);
 * the client's types are inferred from them, so both sides cannot drift apart.
 * Times travel as ISO 8601 strings.
 */
import { z } from 'zod';
import { pageSchema } from './page-schema.ts';
import { nullableTimestamp, timestamp } from './wire-time.ts';

/** Task states. */
export const TaskStatusSchema = z.enum(['pending', 'in_progress', 'complete', 'error', 'cancelled']);
/** Step states. */
export const StepStatusSchema = z.enum([
  'pending',
  'enqueued',
  'held',
  'in_progress',
  'waiting_retry',
  'complete',
  'error',
  'cancelled',
  'resolved_manually',
  'skipped',
]);

/** Body of `POST /v1/tasks`. The caller's idempotency key travels in the `Idempotency-Key` header. */
export const CreateTaskBodySchema = z
  .strictObject({
    namespace: z.string().min(1).max(100),
    name: z.string().min(1).max(100),
    version: z.string().min(1).max(100).optional().describe('default: the latest registered version'),
    context: z.unknown().describe("validated against the template's context_schema"),
    correlationId: z.string().min(1).max(200).optional().describe('default: a new UUID'),
    initiator: z.string().max(200).optional(),
    sourceSystem: z.string().max(200).optional(),
    reason: z.string().max(1000).optional(),
    tags: z.array(z.string().max(100)).max(50).optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
    runAt: timestamp
      .optional()
      .describe(
        'delayed start: the task exists at once (pending, cancellable) and its first steps start at this time, never earlier; a time past starts now, more than a year ahead is refused',
      ),
  })
  .meta({ id: 'CreateTaskBody' });
export type CreateTaskBody = z.input<typeof CreateTaskBodySchema>;

export const TaskSummarySchema = z
  .object({
    id: z.uuid(),
    namespace: z.string(),
    name: z.string(),
    version: z.string(),
    status: TaskStatusSchema,
    correlationId: z.string(),
    initiator: z.string().nullable(),
    sourceSystem: z.string().nullable(),
    reason: z.string().nullable(),
    tags: z.array(z.string()),
    priority: z.number().int(),
    createdAt: timestamp,
    updatedAt: timestamp,
    completedAt: nullableTimestamp,
    runAt: nullableTimestamp.describe('delayed start: no step starts before it (null: started at once)'),
    scheduleId: z.uuid().nullable().describe('the schedule that created the task'),
    scheduleTickAt: nullableTimestamp.describe("the schedule's tick the task was created for"),
  })
  .meta({ id: 'TaskSummary' });
export type TaskSummary = z.output<typeof TaskSummarySchema>;

/** How the workers of one batch group stand; on the step that stands for the group in a task. */
export const BatchGroupSummarySchema = z
  .object({
    total: z.number().int().describe('batches in the plan'),
    complete: z.number().int().describe('complete or resolved_manually'),
    failed: z.number().int().describe('error'),
    inFlight: z.number().int().describe('enqueued, held, in_progress or waiting_retry'),
  })
  .meta({ id: 'BatchGroupSummary' });
export type BatchGroupSummary = z.output<typeof BatchGroupSummarySchema>;

export const StepSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    handler: z.string(),
    status: StepStatusSchema,
    attempts: z.number().int().describe('attempts started (the claim fence)'),
    uncountedAttempts: z.number().int().describe('attempts not counted against maxAttempts'),
    maxAttempts: z.number().int(),
    dependsOn: z.array(z.string()),
    dependentSystem: z.string(),
    results: z.unknown(),
    lastError: z.unknown(),
    nextAttemptAt: nullableTimestamp,
    holdReason: z.string().nullable(),
    holdUntil: nullableTimestamp,
    enqueuedAt: nullableTimestamp,
    startedAt: nullableTimestamp,
    completedAt: nullableTimestamp,
    createdAt: timestamp,
    updatedAt: timestamp,
    // Optional so that a client reads the answers of a server released before decision steps.
    type: z
      .string()
      .nullable()
      .optional()
      .describe('the template step type (decision, batchable, batch_worker), or null for an ordinary step'),
    decides: z
      .array(z.string())
      .nullable()
      .optional()
      .describe("a decision step: the steps it may activate (its results' activate names those it chose)"),
    convergence: z
      .enum(['all', 'deferred'])
      .optional()
      .describe('deferred: a join that waits only for the parents that were activated'),
    // Optional so that a client reads the answers of a server released before batch steps.
    batch: BatchGroupSummarySchema.nullable()
      .optional()
      .describe(
        'on the batch_worker step a batch plan expanded (it is batch 0 and stands for its group): how the batches stand; list them with GET /v1/tasks/{id}/steps/{step}/batches',
      ),
  })
  .meta({ id: 'Step' });
export type Step = z.output<typeof StepSchema>;

export const TaskSchema = TaskSummarySchema.extend({ context: z.unknown(), steps: z.array(StepSchema) }).meta(
  {
    id: 'Task',
  },
);
export type Task = z.output<typeof TaskSchema>;

/** Response of `POST /v1/tasks`: 201 for a new task, 200 with `duplicate: true` for an existing one. */
export const CreateTaskResponseSchema = z
  .object({ duplicate: z.boolean(), task: TaskSchema })
  .meta({ id: 'CreateTaskResponse' });
export type CreateTaskResponse = z.output<typeof CreateTaskResponseSchema>;

/** Query of `GET /v1/tasks`. */
export const ListTasksQuerySchema = z.strictObject({
  namespace: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
  status: TaskStatusSchema.optional(),
  correlationId: z.string().min(1).optional(),
  createdAfter: timestamp.optional(),
  createdBefore: timestamp.optional(),
  cursor: z.string().min(1).max(200).optional().describe('nextCursor of the previous page'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListTasksQuery = z.input<typeof ListTasksQuerySchema>;

export const TaskPageSchema = pageSchema('tasks', TaskSummarySchema, 'TaskPage');
export type TaskPage = z.output<typeof TaskPageSchema>;

/** Query of `GET /v1/tasks/counts`: the list's filters that narrow which tasks are counted. */
export const TaskCountsQuerySchema = ListTasksQuerySchema.pick({
  namespace: true,
  name: true,
  version: true,
  correlationId: true,
  createdAfter: true,
  createdBefore: true,
});
export type TaskCountsQuery = z.input<typeof TaskCountsQuerySchema>;

// One named property per status (not a record keyed by the enum), so the document lists them
// as properties that generated clients turn into fields.
const countPerStatus = Object.fromEntries(
  TaskStatusSchema.options.map((status) => [status, z.number().int()]),
);

/** Response of `GET /v1/tasks/counts`: every task status with how many tasks match. */
export const TaskCountsSchema = z
  .object({
    counts: z.object(countPerStatus as Record<z.output<typeof TaskStatusSchema>, z.ZodNumber>),
    total: z.number().int(),
  })
  .meta({ id: 'TaskCounts' });
export type TaskCounts = z.output<typeof TaskCountsSchema>;

export const TransitionSchema = z
  .object({
    kind: z.enum(['task', 'step']),
    step: z.string().nullable(),
    attempt: z.number().int().nullable(),
    from: z.string().nullable(),
    to: z.string(),
    reason: z.string().nullable(),
    actor: z.string(),
    metadata: z.unknown(),
    at: timestamp,
  })
  .meta({ id: 'Transition' });
export type Transition = z.output<typeof TransitionSchema>;
export const TransitionListSchema = z.object({ transitions: z.array(TransitionSchema) });

export const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    workerId: z.string(),
    outcome: z.string(),
    errorClass: z.string().nullable(),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    httpStatus: z.number().int().nullable(),
    retryAfterMs: z.number().int().nullable(),
    stale: z.boolean(),
    fallback: z.boolean(),
    dependentSystem: z.string(),
    startedAt: timestamp,
    finishedAt: timestamp,
    durationMs: z.number().int(),
  })
  .meta({ id: 'Attempt' });
export type Attempt = z.output<typeof AttemptSchema>;
export const AttemptListSchema = z.object({ attempts: z.array(AttemptSchema) });
/** An attempt of any step of a task, named by its step. */
export const TaskAttemptSchema = AttemptSchema.extend({ step: z.string() }).meta({ id: 'TaskAttempt' });
export type TaskAttempt = z.output<typeof TaskAttemptSchema>;
export const TaskAttemptListSchema = z.object({ attempts: z.array(TaskAttemptSchema) });

/** Body of the operator operations (cancel, retry a step). */
export const OperatorBodySchema = z.strictObject({ reason: z.string().min(1).max(1000).optional() });
export type OperatorBody = z.input<typeof OperatorBodySchema>;
/**
 * Body of `POST /v1/tasks/{id}/steps/{step}/resolve`: `results` become the step's results. A
 * decision step is resolved with `chosen`, the steps it activates (the others are skipped).
 */
export const ResolveBodySchema = OperatorBodySchema.extend({
  results: z.unknown().optional(),
  chosen: z
    .array(z.string())
    .max(100)
    .optional()
    .describe('a decision step: the steps it activates, any of its decides ([] for none); required for one'),
});
export type ResolveBody = z.input<typeof ResolveBodySchema>;

export const TemplateSummarySchema = z
  .object({
    namespace: z.string(),
    name: z.string(),
    versions: z.array(z.string()),
    latest: z.string(),
    description: z.string().nullable(),
  })
  .meta({ id: 'TemplateSummary' });
export type TemplateSummary = z.output<typeof TemplateSummarySchema>;
export const TemplateListSchema = z.object({ templates: z.array(TemplateSummarySchema) });

export const TemplateVersionSchema = z
  .object({
    version: z.string(),
    description: z.string().nullable(),
    registeredAt: timestamp,
    identityStrategy: z.string(),
    contextSchema: z.record(z.string(), z.unknown()),
    steps: z.array(
      z.object({
        name: z.string(),
        handler: z.string(),
        dependsOn: z.array(z.string()),
        dependentSystem: z.string(),
        maxAttempts: z.number().int(),
        timeoutMs: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'TemplateVersion' });
export const TemplateDetailSchema = z
  .object({ namespace: z.string(), name: z.string(), versions: z.array(TemplateVersionSchema) })
  .meta({ id: 'TemplateDetail' });
export type TemplateDetail = z.output<typeof TemplateDetailSchema>;

export const QueueWorkerSchema = z
  .object({
    id: z.string(),
    hostname: z.string(),
    pid: z.number().int(),
    concurrency: z.number().int(),
    lastSeenAt: timestamp,
  })
  .meta({ id: 'QueueWorker' });

/** One step type's queue: jobs in Redis by state, open steps in Postgres, live consumers. */
export const QueueSchema = z
  .object({
    stepType: z.string(),
    jobs: z
      .object({
        wait: z.number().int(),
        prioritized: z.number().int(),
        delayed: z.number().int(),
        active: z.number().int(),
      })
      .describe('BullMQ jobs by state'),
    depth: z.number().int().describe('jobs waiting to be taken (wait + prioritized)'),
    steps: z
      .record(z.string(), z.number().int())
      .describe('steps of this type by open status (enqueued, held, in_progress, waiting_retry)'),
    workers: z.array(QueueWorkerSchema).describe('live workers consuming this queue'),
  })
  .meta({ id: 'Queue' });
export type Queue = z.output<typeof QueueSchema>;
export const QueueListSchema = z.object({ queues: z.array(QueueSchema) }).meta({ id: 'QueueList' });

/** One failing field of a validation problem: a JSON pointer, the rule broken, a message. */
export const FieldProblemSchema = z.object({ path: z.string(), rule: z.string(), message: z.string() });
export type FieldProblem = z.output<typeof FieldProblemSchema>;

/** An error response, `application/problem+json` (RFC 9457). */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    /** Stable, safe to branch on: validation_failed, not_found, conflict, unauthorized, ... */
    code: z.string(),
    errors: z.array(FieldProblemSchema).optional(),
    /** On a 503 answering a create only: whether the task may have been created (see CreateUnavailableProblemSchema). */
    task_may_exist: z.boolean().optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.output<typeof ProblemSchema>;

/** The 503 of a create: the database failed, and whether the task may exist is said. */
export const CreateUnavailableProblemSchema = ProblemSchema.extend({
  /**
   * `true` (code `outcome_unknown`): the insert had been sent when the database failed, so the
   * task may exist; `false` (code `database_unavailable`): nothing was written. Either way,
   * retrying with the same `Idempotency-Key` (or `Switchyard-Retry-Key`) is safe.
   */
  task_may_exist: z.boolean(),
}).meta({ id: 'CreateUnavailableProblem' });

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'fail']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
  })
  .meta({ id: 'Health' });
export type Health = z.output<typeof HealthSchema>;

/** Body of `POST /v1/events`: an event that starts every template listing it under `triggers`. */
export const PostEventBodySchema = z
  .strictObject({
    name: z.string().min(1).max(200).describe('dotted lowercase words, e.g. user.signed_up'),
    payload: z
      .unknown()
      .describe("the started tasks' context, validated against each template's context_schema"),
  })
  .meta({ id: 'PostEventBody' });
export type PostEventBody = z.input<typeof PostEventBodySchema>;

/** The tasks an event started (`duplicate: true` for a replay with the same Idempotency-Key). */
export const PostEventResponseSchema = z
  .object({ event: z.string(), tasks: z.array(CreateTaskResponseSchema) })
  .meta({ id: 'PostEventResponse' });
export type PostEventResponse = z.output<typeof PostEventResponseSchema>;
