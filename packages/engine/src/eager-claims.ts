import type { ChildClaimRoom, ClaimedStep, ClaimRequest, OutcomeResult, ReadyStep } from '@switchyard/db';
import type { StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';
import { dispatchCommitted, handBack, judgeClaimMiss } from './claim-miss.ts';
import type { LimitedClaims } from './limited-claims.ts';
import type { StatementBatcher } from './statement-batcher.ts';
import type { CompiledWorkerOptions } from './worker-options.ts';
import type { WorkerSlots } from './worker-slots.ts';

/**
 * Local continuations in a row from one delivery, after which the children go through the queue.
 * A chain continued locally keeps a slot for one task while other tasks' jobs wait in the queue;
 * going through the queue every few steps lets them in (and lets the queue's priorities decide),
 * at the cost of one round trip through Redis per MAX_CONTINUATIONS + 1 steps. linear20 alone
 * (bench/, a loaded host) took p50 106, 98 and 83 ms with 3, 8 and 19 (no bound for it), 190 ms
 * with no eager claim: 8 gives a slot back every 9 steps for about 10 % of a long chain's latency.
 */
export const MAX_CONTINUATIONS = 8;

/** A child claimed here; `limited` when it was claimed under its system's limit. */
export type LocalRun = { step: ClaimedStep; limited: boolean };

/**
 * The eager claim: once a step's success has committed, the worker claims the children it made
 * ready whose step type it serves and runs them itself, with no round trip through Redis. The
 * claim is the one a delivery makes (the worker's batched claim statement, fenced in
 * attempt-fence.ts), so a cancelled task, an open breaker, a fallback, a probe, the lease and a
 * duplicate, late or stale delivery are judged exactly as for a delivery; a child of a step type
 * whose system is limited goes to the limited claim a delivery of it goes to, so the limit
 * admits it or holds it (no attempt used) exactly as it would a delivery. Dispatched as before:
 * children of step types this worker does not serve, children that found no slot in time
 * (`continuationWaitMs`), children at the end of MAX_CONTINUATIONS local continuations, and every
 * child once the worker is stopping. A child the claim missed gets a job when it is still claimable
 * (its delivery takes it to the right claim); otherwise another worker has it or it is not
 * runnable, and nothing is left to do.
 *
 * A worker killed between the success's commit and this claim leaves those children enqueued
 * without a job: the scheduler's missing-job repair dispatches them once the dispatch grace has
 * passed. Killed after the claim, the children's leases expire and the scheduler re-dispatches
 * them, as for any claimed step.
 */
export class EagerClaims {
  readonly #options: CompiledWorkerOptions;
  readonly #dispatcher: StepDispatcher;
  readonly #claims: StatementBatcher<ClaimRequest, ClaimedStep | null>;
  readonly #slots: WorkerSlots;
  readonly #limited: LimitedClaims;
  readonly #served: ReadonlySet<string>;
  #stopping = false;

  constructor(
    options: CompiledWorkerOptions,
    dispatcher: StepDispatcher,
    claims: StatementBatcher<ClaimRequest, ClaimedStep | null>,
    slots: WorkerSlots,
    limited: LimitedClaims,
  ) {
    this.#options = options;
    this.#dispatcher = dispatcher;
    this.#claims = claims;
    this.#slots = slots;
    this.#limited = limited;
    this.#served = new Set(options.stepTypes);
  }

  /** From now on every ready child goes through the queue (the worker is stopping). */
  stop(): void {
    this.#stopping = true;
  }

  /** Whether the children of a step run after `depth` local continuations may run here. */
  continues(depth: number): boolean {
    return this.#options.eagerClaim && !this.#stopping && depth < MAX_CONTINUATIONS;
  }

  /**
   * For a success statement of which `continuing` successes may continue here: the free slots
   * of each step type the worker serves (but limited ones, whose children the limit admits), up
   * to `continuing`, for the statement to claim the children it makes ready (ChildClaimRoom in
   * db). The slots are not held: a delivery may take one meanwhile, and a child claimed for it
   * then waits for a slot as a ready child does (see {@link continueAfter}).
   */
  rooms(continuing: number): ChildClaimRoom[] {
    if (continuing === 0 || !this.continues(0)) return [];
    const rooms: ChildClaimRoom[] = [];
    for (const handler of this.#served) {
      const room = Math.min(continuing, this.#slots.free(handler));
      if (room > 0 && !this.#limited.routes(handler)) {
        rooms.push({ handler, room, leaseMs: this.#options.leaseFor(handler) });
      }
    }
    return rooms;
  }

  /**
   * After a step's outcome has committed: claims the children it made ready that run here next,
   * each holding a slot of its step type, and hands each claimed child to `run` as soon as it is
   * claimed; dispatches the others. Resolves once every child is claimed or dispatched.
   */
  async continueAfter(
    { ready, claimed }: Pick<OutcomeResult, 'ready' | 'claimed'>,
    depth: number,
    log: Logger,
    run: (child: LocalRun) => void,
  ): Promise<void> {
    const continuing = this.continues(depth);
    const claims: Promise<void>[] = claimed.map((child) =>
      this.#runClaimed(
        child,
        this.#slots.acquireWithin(child.handler, this.#options.continuationWaitMs),
        log,
        run,
      ),
    );
    const queued: ReadyStep[] = [];
    for (const child of ready) {
      const slot =
        continuing && this.#runsHere(child.handler)
          ? this.#slots.acquireWithin(child.handler, this.#options.continuationWaitMs)
          : null;
      if (slot) claims.push(this.#runInSlot(child, slot, log, run));
      else queued.push(child);
    }
    await Promise.all([...claims, dispatchCommitted(this.#dispatcher, queued, log)]);
  }

  /**
   * Once `slot` brings a slot of the child's type (within `continuationWaitMs`, ahead of the
   * deliveries waiting for one), claims the child in it and hands it to `run`; without a slot in
   * time, or once the worker is stopping, the child goes through the queue.
   */
  async #runInSlot(
    child: ReadyStep,
    slot: Promise<boolean>,
    log: Logger,
    run: (child: LocalRun) => void,
  ): Promise<void> {
    const got = await slot;
    if (got && !this.#stopping) {
      const claimed = await this.#claim(child, log);
      if (claimed) run(claimed);
      return;
    }
    if (got) this.#slots.release(child.handler);
    await dispatchCommitted(this.#dispatcher, [child], log);
  }

  /**
   * A child the success statement claimed here runs once `slot` brings a slot of its type, as
   * a ready child would; without one in time (or once the worker is stopping) it is handed back,
   * enqueued again with the attempt uncounted, and goes through the queue.
   */
  async #runClaimed(
    child: ClaimedStep,
    slot: Promise<boolean> | null,
    log: Logger,
    run: (child: LocalRun) => void,
  ): Promise<void> {
    const got = (await slot) ?? false;
    if (got && !this.#stopping) return run({ step: child, limited: false });
    if (got) this.#slots.release(child.handler);
    const { pool, workerId } = this.#options;
    const fields = { child_task_id: child.taskId, child_step_id: child.id, attempt: child.attempt };
    try {
      const claim = { stepId: child.id, attempt: child.attempt, workerId };
      const reason = 'claimed with its parent; no slot here in time';
      await handBack(pool, this.#dispatcher, { ...claim, reason, errorClass: 'NoFreeSlot' }, log);
      log.debug(fields, 'child claimed with its parent found no slot; handed back');
    } catch (err) {
      // Still claimed here: it runs again once its lease ends, as after a crash.
      log.warn({ err, ...fields }, 'could not hand back a child claimed with its parent');
    }
  }

  #runsHere(stepType: string): boolean {
    return this.#served.has(stepType);
  }

  /**
   * Claims one child holding a slot of its type (under its system's limit when the step type is
   * limited); gives the slot back when the claim misses or the limit holds the child.
   */
  async #claim(child: ReadyStep, log: Logger): Promise<LocalRun | null> {
    const request = {
      stepId: child.stepId,
      attempt: child.attempt,
      leaseMs: this.#options.leaseFor(child.handler),
    };
    const limited = this.#limited.routes(child.handler);
    let claimed: ClaimedStep | 'held' | null;
    try {
      claimed = limited
        ? await this.#limited.claimStep(child.handler, request, { task_id: child.taskId })
        : await this.#claims.submit(request);
    } catch (err) {
      // Postgres refused or was unreachable: the child is committed enqueued, so its job takes it.
      this.#slots.release(child.handler);
      log.warn({ err, child_step_id: child.stepId }, 'eager claim failed; child dispatched');
      await dispatchCommitted(this.#dispatcher, [child], log);
      return null;
    }
    if (claimed && claimed !== 'held') return { step: claimed, limited };
    this.#slots.release(child.handler);
    // Held by the limit: it waits, committed, for a release; nothing else to do.
    if (claimed !== 'held') await this.#afterMiss(child, log);
    return null;
  }

  async #afterMiss(child: ReadyStep, log: Logger): Promise<void> {
    const { pool, workerId } = this.#options;
    const fields = { child_task_id: child.taskId, child_step_id: child.stepId, attempt: child.attempt };
    try {
      const miss = await judgeClaimMiss(pool, workerId, child.stepId, child.attempt);
      if (miss === 'held') return log.info(fields, 'child held: its service breaker is open');
      if (miss.reason === 'not_admitted' || miss.reason === 'not_due') {
        const delayMs = miss.reason === 'not_due' ? miss.dueInMs : 0;
        return await dispatchCommitted(this.#dispatcher, [{ ...child, delayMs }], log);
      }
      log.debug({ ...fields, miss }, 'child not claimed: taken elsewhere or no longer runnable');
    } catch (err) {
      // The fence refuses a delivery that is not wanted, so a job is always safe.
      log.warn({ err, ...fields }, 'could not judge a missed eager claim; child dispatched');
      await dispatchCommitted(this.#dispatcher, [child], log);
    }
  }
}
