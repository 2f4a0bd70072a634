import { eventsToPublish, PermanentError, toError } from '@switchyard/core';
import {
  type AttemptFailure,
  type AttemptRecord,
  type ClaimedStep,
  type ClaimRequest,
  claimStepAttempts,
  type EventToCommit,
  type OutcomeResult,
  recordStepFailure,
  recordStepSuccesses,
  renewStepLease,
  type StepSuccess,
  withRetries,
  withTransaction,
} from '@switchyard/db';
import {
  DelayedError,
  isStepJobPayload,
  type Job,
  type StepDispatcher,
  type StepJobPayload,
} from '@switchyard/queue';
import { contextFromTraceparent, inSpan, SpanStatusCode, tracer } from '@switchyard/tracing';
import type { Logger } from 'pino';
import { describeFailure, failureEvents, logOutcome, toCommit } from './attempt-outcome.ts';
import { batchContext } from './batch-steps.ts';
import { dispatchCommitted, handBack, judgeClaimMiss } from './claim-miss.ts';
import { EagerClaims } from './eager-claims.ts';
import { type AttemptNotes, handlerContext, handlerFor } from './handler-context.ts';
import { LimitedClaims } from './limited-claims.ts';
import { recordSuccess } from './record-success.ts';
import { ClaimLostError, type HandlerOutcome, runHandler, WorkerShutdownError } from './run-handler.ts';
import { StatementBatcher } from './statement-batcher.ts';
import type { CompiledWorkerOptions } from './worker-options.ts';
import { WorkerSlots } from './worker-slots.ts';

/** Running attempts of this worker by `<stepId>.<attempt>`, so shutdown and cancellation can abort them. */
export type InFlight = Map<string, { taskId: string; controller: AbortController }>;

type RecordedOutcome = { failure: AttemptFailure | null; result: OutcomeResult };

/** What a handler left behind for its attempt's recording. */
type FinishedAttempt = {
  outcome: HandlerOutcome;
  published: ReadonlyMap<string, unknown>;
  notes: AttemptNotes;
};

/**
 * Outcomes of one step type being recorded at once, per slot of the type. An attempt gives its
 * slot back when its handler ends, so the next delivery runs while the outcome is recorded and
 * the recordings of many slots share a statement (statement-batcher.ts); past this many, a
 * finished attempt holds its delivery until a recording ends, which stops BullMQ handing out more.
 * registration_burst (bench/, 10 slots, four alternating pairs): 4 gave 1,349–1,503 steps/s and
 * 0.50–0.53 statements per step, 2 gave 1,155–1,312 and 0.66–0.71.
 */
export const RECORDINGS_PER_SLOT = 4;

/**
 * Processes one dispatch message: claim behind the fence, run the handler, record the outcome
 * atomically with the readiness of the step's children, then claim the children it runs next
 * (eager-claims.ts) and dispatch the others.
 */
export class StepRunner {
  readonly #options: CompiledWorkerOptions;
  readonly #dispatcher: StepDispatcher;
  readonly #log: Logger;
  readonly #claims: StatementBatcher<ClaimRequest, ClaimedStep | null>;
  readonly #limited: LimitedClaims;
  readonly #successes: StatementBatcher<StepSuccess, OutcomeResult>;
  readonly #slots: WorkerSlots;
  readonly #recordings: WorkerSlots;
  /** Recordings and local continuations under way, which stop() waits for. */
  readonly #finishing = new Set<Promise<void>>();
  readonly #eager: EagerClaims;
  readonly inFlight: InFlight = new Map();

  constructor(options: CompiledWorkerOptions, dispatcher: StepDispatcher) {
    this.#options = options;
    this.#dispatcher = dispatcher;
    const { pool, workerId } = options;
    // A deadlock or a dropped connection rolls a batch statement back, so running it again is
    // safe: the fence judges every request anew.
    this.#claims = new StatementBatcher((batch) =>
      withRetries(() => claimStepAttempts(pool, workerId, batch)),
    );
    this.#successes = new StatementBatcher((batch) => this.#recordSuccesses(batch));
    this.#log = options.logger.child({ component: 'step-runner', worker_id: options.workerId });
    this.#limited = new LimitedClaims(options, dispatcher, this.#log);
    this.#slots = new WorkerSlots(options.concurrency);
    this.#recordings = new WorkerSlots(options.concurrency * RECORDINGS_PER_SLOT);
    this.#eager = new EagerClaims(options, dispatcher, this.#claims, this.#slots, this.#limited);
  }

  /**
   * One success statement for a batch, offering this worker's free slots to the children it
   * makes ready: it claims them for the worker in the update that makes them ready
   * (eager-claims.ts).
   */
  async #recordSuccesses(batch: StepSuccess[]): Promise<OutcomeResult[]> {
    const { pool, workerId } = this.#options;
    // Only a statement of one success offers slots: a worker recording one at a time is not busy,
    // and its chains save the claim's round trip per step (linear4 p50 11-12 ms against 12-16).
    // Busy, the statement carries many and deliveries take the free slots before it commits: in
    // registration_burst, offering them cost 13 % of the throughput (Postgres 0.52 -> 0.69 ms per
    // step, and 3 % of the children claimed there were handed back for want of a slot).
    const rooms = batch.length === 1 ? this.#eager.rooms(batch.filter((s) => s.continues).length) : [];
    return recordStepSuccesses(pool, workerId, batch, rooms);
  }

  /** Local continuations stop: from now on a finished step's children go through the queue. */
  stopContinuing(): void {
    this.#eager.stop();
  }

  /** Resolves once every outcome handed to recording is recorded and every local run has ended. */
  async whenFinished(): Promise<void> {
    while (this.#finishing.size > 0) await Promise.allSettled([...this.#finishing]);
  }

  async process(job: Job<StepJobPayload>, token: string | undefined): Promise<void> {
    if (!isStepJobPayload(job.data)) {
      // Claims go to Postgres in batches: a message that is not a step pointer would fail the
      // whole statement, and with it every delivery claimed beside it. Nothing can run it.
      this.#log.error(
        { job_id: job.id, queue: job.queueName, data: job.data },
        'dropped a message that is not a step',
      );
      return;
    }
    const { stepId, attempt } = job.data;
    const request = { stepId, attempt, leaseMs: this.#options.leaseFor(job.name) };
    // Local continuations may hold this step type's slots; BullMQ does not count them.
    await this.#slots.acquire(job.name);
    let claimed: ClaimedStep | 'held' | null;
    let limited = false;
    try {
      // A step type seen limited goes to the limited claim at once; the plain claim skips limited systems.
      const plain = this.#limited.routes(job.name) ? null : await this.#claims.submit(request);
      limited = !plain;
      claimed = plain ?? (await this.#limited.claim(job, request));
    } catch (err) {
      this.#slots.release(job.name);
      throw err;
    }
    if (claimed === 'held' || !claimed) this.#slots.release(job.name);
    if (claimed === 'held') return;
    if (!claimed) return this.#onClaimMiss(job, token);
    await this.#runAttempt(claimed, 0, limited);
  }

  /**
   * Runs a claimed attempt's handler in the slot of its step type, gives the slot back, and hands
   * a success to recording (#finish), which goes on after this resolves: the delivery ends with
   * the handler, so BullMQ hands the slot the next job while the success is being recorded.
   * `depth` counts the local continuations before this attempt.
   */
  async #runAttempt(step: ClaimedStep, depth: number, limited: boolean): Promise<void> {
    // A child logger, not an AsyncLocalStorage context: entering one store makes Node track
    // every promise of the process, a cost paid on every await of the hot path.
    const log = this.#log.child(logBindings(step));
    let finished: FinishedAttempt;
    try {
      finished = await this.#runHandler(step, depth, log);
      // A failure is recorded before the slot takes another job, so the breaker judges the next
      // claim with it counted: a down service sees at most one call per slot past the trip.
      if (!finished.outcome.ok) return await this.#finish(step, finished, depth, limited, log);
    } finally {
      this.#slots.release(step.handler);
    }
    await this.#recordings.acquire(step.handler);
    this.#track(
      this.#finish(step, finished, depth, limited, log).finally(() => this.#recordings.release(step.handler)),
      log,
    );
  }

  /**
   * Records the outcome, then claims the children it made ready that run here and starts them,
   * each in a slot of its own. A failure here leaves the step claimed: it runs again once its
   * lease ends, as after a crash.
   */
  async #finish(
    step: ClaimedStep,
    finished: FinishedAttempt,
    depth: number,
    limited: boolean,
    log: Logger,
  ): Promise<void> {
    const result = await this.#record(step, finished, depth, log);
    if (limited) await this.#limited.afterFinish(step);
    if (!result) return;
    if (result.retry) {
      const { id: stepId, taskId, handler, namespace, priority } = step;
      const retry = { stepId, taskId, handler, namespace, priority, ...result.retry };
      await dispatchCommitted(this.#dispatcher, [retry], log);
    }
    await this.#eager.continueAfter(result, depth, log, (child) =>
      this.#track(this.#runAttempt(child.step, depth + 1, child.limited), log),
    );
  }

  #track(work: Promise<void>, log: Logger): void {
    const tracked = work
      .catch((err) =>
        log.error({ err }, 'recording the attempt failed; the step runs again once its lease ends'),
      )
      .finally(() => this.#finishing.delete(tracked));
    this.#finishing.add(tracked);
  }

  /** Runs the handler under its lease, span and abort controller. */
  async #runHandler(step: ClaimedStep, depth: number, log: Logger): Promise<FinishedAttempt> {
    log.info(
      {
        handler: step.handler,
        probe: step.probe,
        fallback: step.fallback,
        ...(depth > 0 ? { continuation: depth } : {}),
      },
      'step attempt started',
    );
    const controller = new AbortController();
    const key = `${step.id}.${step.attempt}`;
    this.inFlight.set(key, { taskId: step.taskId, controller });
    const stopRenewing = this.#keepLease(step, controller, log);
    const span = tracer().startSpan(
      `step ${step.name}`,
      {
        attributes: {
          'switchyard.task_id': step.taskId,
          'switchyard.step': step.name,
          'switchyard.attempt': step.attempt,
          'switchyard.dependent_system': step.dependentSystem,
        },
      },
      contextFromTraceparent(step.traceContext),
    );
    let outcome: HandlerOutcome;
    const published = new Map<string, unknown>();
    const notes: AttemptNotes = { called: true };
    try {
      const handler = handlerFor(this.#options, step);
      const { pool, workerId } = this.#options;
      const ctx = {
        ...handlerContext(step, log, published, notes),
        ...batchContext(step, pool, workerId, controller),
      };
      outcome = await inSpan(span, () => runHandler(handler, ctx, step.timeoutMs, controller));
      if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
    } finally {
      stopRenewing();
      this.inFlight.delete(key);
    }
    return { outcome, published, notes };
  }

  /** Aborts every running attempt; each hands its step back (see #release). */
  abortAll(reason: string): void {
    for (const { controller } of this.inFlight.values()) controller.abort(new WorkerShutdownError(reason));
  }

  /** Aborts the running attempts of a cancelled task; their late results will be stale. */
  abortTask(taskId: string): void {
    for (const running of this.inFlight.values()) {
      if (running.taskId === taskId) running.controller.abort(new ClaimLostError('the task was cancelled'));
    }
  }

  /** Records the outcome: what it committed, or null when the step was handed back. */
  async #record(
    step: ClaimedStep,
    { outcome, published, notes }: FinishedAttempt,
    depth: number,
    log: Logger,
  ): Promise<OutcomeResult | null> {
    if (!outcome.ok && outcome.error instanceof WorkerShutdownError) {
      await this.#release(step, outcome.error, log);
      return null;
    }
    const record: AttemptRecord = {
      stepId: step.id,
      taskId: step.taskId,
      attempt: step.attempt,
      workerId: this.#options.workerId,
      dependentSystem: step.dependentSystem,
      startedAt: step.startedAt,
      finishedAt: new Date(),
      probe: step.probe,
      fallback: step.fallback,
      called: notes.called,
    };
    const { failure, result } = outcome.ok
      ? await this.#recordSuccess(step, record, outcome.results, published, depth, log)
      : await this.#recordFailure(step, record, describeFailure(step, outcome.error), published, log);
    logOutcome(log, step, failure, result);
    return result;
  }

  async #recordFailure(
    step: ClaimedStep,
    record: AttemptRecord,
    failure: AttemptFailure,
    published: ReadonlyMap<string, unknown>,
    log: Logger,
  ): Promise<RecordedOutcome> {
    const events = failureEvents(step, failure, published, log);
    const result = await withTransaction(this.#options.pool, (client) =>
      recordStepFailure(client, record, failure, events),
    );
    return { failure, result };
  }

  async #recordSuccess(
    step: ClaimedStep,
    record: AttemptRecord,
    results: unknown,
    published: ReadonlyMap<string, unknown>,
    depth: number,
    log: Logger,
  ): Promise<RecordedOutcome> {
    const refuse = (message: string, errorCode: string, cause: unknown) =>
      this.#recordFailure(
        step,
        record,
        describeFailure(step, new PermanentError(message, { errorCode, cause })),
        published,
        log,
      );
    let events: EventToCommit[];
    try {
      events = toCommit(step, eventsToPublish(step.publishes, { ok: true }, published, results));
    } catch (err) {
      // The handler published a payload its template's schema refuses: running it again would
      // publish the same one, so the attempt fails for good, saying which field is wrong.
      return refuse(toError(err).message, 'event_payload_invalid', err);
    }
    const recorded = await recordSuccess(
      step,
      { record, results, events },
      {
        pool: this.#options.pool,
        workerId: this.#options.workerId,
        log,
        submitBatched: (success) =>
          this.#successes.submit({ ...success, continues: this.#eager.continues(depth) }),
      },
    );
    if (recorded.kind === 'refused') return refuse(recorded.message, recorded.errorCode, recorded.cause);
    return { failure: null, result: recorded.result };
  }

  /** Hands the step back so another worker takes it at once rather than after the lease. */
  async #release(step: ClaimedStep, error: Error, log: Logger): Promise<void> {
    const { pool, workerId } = this.#options;
    const claim = { stepId: step.id, attempt: step.attempt, workerId, reason: error.message };
    const released = await handBack(pool, this.#dispatcher, claim, log);
    log.warn({ released }, 'attempt interrupted by shutdown; step handed back');
  }

  /** Renews the lease every third of its length; aborts the handler when the claim is lost. */
  #keepLease(step: ClaimedStep, controller: AbortController, log: Logger): () => void {
    const { pool, workerId } = this.#options;
    const leaseMs = this.#options.leaseFor(step.handler);
    const timer = setInterval(
      async () => {
        try {
          const held = await renewStepLease(pool, {
            stepId: step.id,
            attempt: step.attempt,
            workerId,
            leaseMs,
          });
          if (!held)
            controller.abort(new ClaimLostError('the attempt lost its claim (cancelled or re-dispatched)'));
        } catch (err) {
          log.warn({ err }, 'lease renewal failed; will try again');
        }
      },
      Math.floor(leaseMs / 3),
    );
    return () => clearInterval(timer);
  }

  async #onClaimMiss(job: Job<StepJobPayload>, token: string | undefined): Promise<void> {
    const { stepId, attempt, taskId } = job.data;
    const miss = await judgeClaimMiss(this.#options.pool, this.#options.workerId, stepId, attempt);
    if (miss === 'held') {
      this.#log.info({ task_id: taskId, step_id: stepId, attempt }, 'step held: its service breaker is open');
      return;
    }
    if (miss.reason === 'not_due' && token) {
      // Delivered before its backoff elapsed (clock skew between hosts): hold it until due.
      await job.moveToDelayed(Date.now() + miss.dueInMs, token);
      throw new DelayedError();
    }
    this.#log.debug({ task_id: taskId, step_id: stepId, attempt, miss }, 'delivery dropped by the fence');
  }
}

/** The log bindings of an attempt: every line logged about it names its task and step. */
function logBindings(step: ClaimedStep): Record<string, unknown> {
  return {
    task_id: step.taskId,
    step_id: step.id,
    step_name: step.name,
    attempt: step.attempt,
    correlation_id: step.correlationId,
    dependent_system: step.dependentSystem,
  };
}
