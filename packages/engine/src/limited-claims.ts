import { LIMIT_RELEASE_HORIZON_MS } from '@switchyard/core';
import {
  type ClaimedStep,
  type ClaimRequest,
  claimLimitedStepAttempts,
  hasLimitWaiters,
  type LimitedClaim,
  releaseLimitWaiters,
  withRetries,
  withTransaction,
} from '@switchyard/db';
import type { Job, StepDispatcher, StepJobPayload } from '@switchyard/queue';
import type { Logger } from 'pino';
import { StatementBatcher } from './statement-batcher.ts';
import type { CompiledWorkerOptions } from './worker-options.ts';

/**
 * A worker's side of the bulkheads: claims deliveries of limited systems under their limit
 * (claimLimitedStepAttempts, batched like the plain claim), and when such a step finishes,
 * releases the steps waiting for the slot or token it freed. The scheduler's sweep releases too
 * (a worker that died after its step finished, a token that became due): this is the fast path.
 */
export class LimitedClaims {
  readonly #options: CompiledWorkerOptions;
  readonly #dispatcher: StepDispatcher;
  readonly #log: Logger;
  readonly #claims: StatementBatcher<ClaimRequest, LimitedClaim>;
  /** Step types whose deliveries were limited: sent to the limited claim without trying the plain one. */
  readonly #limitedTypes = new Set<string>();

  constructor(options: CompiledWorkerOptions, dispatcher: StepDispatcher, log: Logger) {
    this.#options = options;
    this.#dispatcher = dispatcher;
    this.#log = log;
    const { pool, workerId } = options;
    // One statement: a deadlock or a dropped connection rolls it back, and the fence judges a rerun anew.
    this.#claims = new StatementBatcher((batch) =>
      withRetries(() => claimLimitedStepAttempts(pool, workerId, batch)),
    );
  }

  /** Whether deliveries of this step type go to the limited claim directly. */
  routes(stepType: string): boolean {
    return this.#limitedTypes.has(stepType);
  }

  /**
   * Claims a delivery under its system's limit: the claimed step, `held` (no attempt used; the
   * step waits for a slot or a token), or null (not claimable: the ordinary miss path explains).
   */
  claim(job: Job<StepJobPayload>, request: ClaimRequest): Promise<ClaimedStep | 'held' | null> {
    return this.claimStep(job.name, request, { task_id: job.data.taskId });
  }

  /** Claims a step of `stepType` under its system's limit (a delivery's, or an eager claim's). */
  async claimStep(
    stepType: string,
    request: ClaimRequest,
    fields: { task_id: string },
  ): Promise<ClaimedStep | 'held' | null> {
    const outcome = await this.#claims.submit(request);
    if (outcome.kind === 'missed') return null;
    if (outcome.kind === 'claimed') {
      if (outcome.limited) this.#limitedTypes.add(stepType);
      return outcome.step;
    }
    this.#limitedTypes.add(stepType);
    this.#log.info(
      { ...fields, step_id: request.stepId, attempt: request.attempt, hold_reason: outcome.reason },
      `step held: its service is at its ${outcome.reason} limit; no attempt used`,
    );
    return 'held';
  }

  /** After a step claimed through the limited claim has finished: release what its slot frees. */
  async afterFinish(step: ClaimedStep): Promise<void> {
    const { pool, workerId } = this.#options;
    try {
      if (!(await hasLimitWaiters(pool, step.dependentSystem))) return;
      const released = await withTransaction(pool, (client) =>
        releaseLimitWaiters(client, {
          dependentSystem: step.dependentSystem,
          actor: workerId,
          horizonMs: LIMIT_RELEASE_HORIZON_MS,
          namespaceWeights: this.#options.namespaceWeights,
        }),
      );
      if (released.length > 0) await this.#dispatcher.dispatch(released);
    } catch (err) {
      // The scheduler's sweep releases them; the step's own outcome is committed.
      this.#log.warn({ err, dependent_system: step.dependentSystem }, 'release of waiting steps failed');
    }
  }
}
