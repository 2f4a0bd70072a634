/**
 * The webhook delivery loop, run beside the scheduler (every replica runs it; they share the
 * work through SKIP LOCKED claims). Each tick fans the event log out into deliveries (one
 * replica at a time holds the cursor) and claims due deliveries up to the in-flight limit; each
 * claim is one signed POST (Standard Webhooks), and its outcome, the attempt row and the
 * receiver's breaker evaluation commit together.
 *
 * Crash safety: a claim carries a lease longer than the request timeout; a process that dies
 * mid-flight leaves claims that come back when their leases end, and the event is posted again
 * with the same `webhook-id` (receivers deduplicate on it): at least once.
 *
 * HTTP: webhook-post.ts (node:http, redirects not followed, a timeout per request, private
 * addresses refused unless allowPrivateTargets).
 */
import { hostname } from 'node:os';
import {
  ConfigError,
  DELIVERY_SCHEDULE_DEFAULTS,
  type DeliverySchedule,
  decideAfterDeliveryFailure,
  toError,
  webhookRequest,
  webhookSystem,
} from '@switchyard/core';
import {
  type ClaimedDelivery,
  claimWebhookDeliveries,
  type DeliveryAttemptRecord,
  evaluateBreaker,
  failOrphanedDelivery,
  fanOutEvents,
  holdWebhookDelivery,
  type Pool,
  recordWebhookDeliveryAttempt,
  withTransaction,
} from '@switchyard/db';
import type { Logger } from 'pino';
import type { RunningScheduler } from './scheduler.ts';
import { postWebhook } from './webhook-post.ts';

export type WebhookDeliveryOptions = {
  pool: Pool;
  logger: Logger;
  /** Names this process's claims. Default `webhooks-<host>-<pid>-<random>`. */
  claimer?: string;
  /** Deliveries in flight at once in this process. Default 16. */
  concurrency?: number;
  /** How often to look for new events and due deliveries when idle (ms). Default 250. */
  pollIntervalMs?: number;
  /** Timeout of one POST (ms). Default 10 000. */
  timeoutMs?: number;
  /** A claim not finished by then is taken back (ms); longer than the timeout. Default 60 000. */
  leaseMs?: number;
  /** Events read per fan-out page. Default 500. */
  fanOutBatchSize?: number;
  /** Retry delays and how long to keep trying. Default DELIVERY_SCHEDULE_DEFAULTS. */
  schedule?: DeliverySchedule;
  /**
   * Deliver to loopback, private and link-local addresses too (tests, demos, receivers inside
   * the deployment's network). Default false: such a delivery fails naming the rule.
   */
  allowPrivateTargets?: boolean;
};

export type RunningWebhookDelivery = {
  readonly claimer: string;
  /** Deliveries posted and recorded by this process since start, by result. */
  counts(): Readonly<{ delivered: number; retrying: number; failed: number; fanned_out: number }>;
  inFlight(): number;
  /** Fans out and claims now (outside the poll); for tests. */
  tick(): Promise<void>;
  /** Stops claiming and waits for the deliveries in flight. */
  stop(): Promise<void>;
};

const MAX_FAN_OUT_PAGES_PER_TICK = 20;

/** Starts the loop. @throws ConfigError for bad options, before anything runs. */
export function startWebhookDelivery(options: WebhookDeliveryOptions): RunningWebhookDelivery {
  const settings = {
    concurrency: options.concurrency ?? 16,
    pollIntervalMs: options.pollIntervalMs ?? 250,
    timeoutMs: options.timeoutMs ?? 10_000,
    leaseMs: options.leaseMs ?? 60_000,
    fanOutBatchSize: options.fanOutBatchSize ?? 500,
    schedule: options.schedule ?? DELIVERY_SCHEDULE_DEFAULTS,
    allowPrivateTargets: options.allowPrivateTargets ?? false,
  };
  for (const field of ['concurrency', 'pollIntervalMs', 'timeoutMs', 'leaseMs', 'fanOutBatchSize'] as const) {
    if (!Number.isInteger(settings[field]) || settings[field] < 1) {
      throw new ConfigError(`webhook delivery: ${field} must be a positive integer, got ${settings[field]}`);
    }
  }
  if (settings.leaseMs <= settings.timeoutMs) {
    throw new ConfigError(
      `webhook delivery: leaseMs (${settings.leaseMs}) must be longer than timeoutMs (${settings.timeoutMs}), or a slow receiver's delivery would be claimed twice`,
    );
  }
  if (settings.schedule.delaysMs.length === 0 || settings.schedule.delaysMs.some((ms) => ms < 0)) {
    throw new ConfigError('webhook delivery: schedule.delaysMs must list at least one delay, none negative');
  }
  const loop = new DeliveryLoop(
    options.pool,
    options.logger,
    options.claimer ?? `webhooks-${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    settings,
  );
  loop.start();
  return loop;
}

/**
 * A scheduler with this process's delivery loop beside it: stopping it stops the loop first.
 * What roles.ts starts for the scheduler role.
 */
export function withWebhookDelivery(
  scheduler: RunningScheduler,
  options: WebhookDeliveryOptions,
): RunningScheduler {
  const delivery = startWebhookDelivery(options);
  const stop = async () => {
    await delivery.stop();
    await scheduler.stop();
  };
  return new Proxy(scheduler, {
    get(target, property) {
      if (property === 'stop') return stop;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

type Settings = Required<Omit<WebhookDeliveryOptions, 'pool' | 'logger' | 'claimer'>>;

class DeliveryLoop implements RunningWebhookDelivery {
  readonly claimer: string;
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #settings: Settings;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #counts = { delivered: 0, retrying: 0, failed: 0, fanned_out: 0 };
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | null = null;
  /** Another tick was asked for while one ran (a delivery finished, say): run it right after. */
  #again = false;
  #stopped = false;

  constructor(pool: Pool, logger: Logger, claimer: string, settings: Settings) {
    this.#pool = pool;
    this.claimer = claimer;
    this.#settings = settings;
    this.#log = logger.child({ component: 'webhook-delivery', claimer });
  }

  start(): void {
    this.#schedule(0);
    this.#log.info('webhook delivery started');
  }

  counts() {
    return { ...this.#counts };
  }

  inFlight(): number {
    return this.#inFlight.size;
  }

  tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true;
      return this.#ticking;
    }
    this.#ticking = this.#run().finally(() => {
      this.#ticking = null;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.tick();
      }
    });
    return this.#ticking;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    await Promise.allSettled([...this.#inFlight]);
    this.#log.info('webhook delivery stopped');
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.tick().finally(() => this.#schedule(this.#settings.pollIntervalMs));
    }, ms);
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#fanOut();
      const room = this.#settings.concurrency - this.#inFlight.size;
      const claims = await claimWebhookDeliveries(this.#pool, {
        claimer: this.claimer,
        limit: room,
        leaseMs: this.#settings.leaseMs,
      });
      for (const claim of claims) {
        const flight: Promise<void> = this.#deliver(claim)
          .catch((err) =>
            this.#log.error(
              { err: toError(err), delivery_id: claim.id },
              'recording a delivery failed; its lease brings it back',
            ),
          )
          .finally(() => {
            this.#inFlight.delete(flight);
            // A finished delivery frees a slot, and may unblock the next event of its task.
            void this.tick();
          });
        this.#inFlight.add(flight);
      }
    } catch (err) {
      this.#log.error({ err: toError(err) }, 'webhook delivery tick failed; retrying next interval');
    }
  }

  async #fanOut(): Promise<void> {
    for (let page = 0; page < MAX_FAN_OUT_PAGES_PER_TICK; page++) {
      const result = await withTransaction(this.#pool, (client) =>
        fanOutEvents(client, { limit: this.#settings.fanOutBatchSize }),
      );
      this.#counts.fanned_out += result.inserted;
      if (result.busy || result.read < this.#settings.fanOutBatchSize) return;
    }
  }

  async #deliver(claim: ClaimedDelivery): Promise<void> {
    const event = claim.event;
    if (!event) {
      await failOrphanedDelivery(this.#pool, { deliveryId: claim.id, claimer: this.claimer });
      this.#counts.failed += 1;
      return;
    }
    const startedAt = new Date();
    const { headers, body } = webhookRequest(claim.secret, event, startedAt);
    const sent = await postWebhook(claim.url, headers, body, {
      timeoutMs: this.#settings.timeoutMs,
      allowPrivateTargets: this.#settings.allowPrivateTargets,
    });
    const finishedAt = new Date();
    const attempt = claim.attempts + 1;
    const next: DeliveryAttemptRecord['next'] =
      sent.outcome === 'success'
        ? { kind: 'delivered' }
        : (() => {
            const decision = decideAfterDeliveryFailure(this.#settings.schedule, {
              attempts: attempt,
              occurredAt: event.occurredAt,
              now: finishedAt,
            });
            return 'giveUp' in decision ? { kind: 'failed' } : { kind: 'retry', retryAt: decision.retryAt };
          })();
    const system = webhookSystem(claim.webhookId);
    const fenced = await withTransaction(this.#pool, async (client) => {
      const held = await recordWebhookDeliveryAttempt(client, {
        deliveryId: claim.id,
        webhookId: claim.webhookId,
        claimer: this.claimer,
        attemptsBefore: claim.attempts,
        probe: claim.probe,
        outcome: sent.outcome,
        httpStatus: sent.httpStatus,
        error: sent.error,
        startedAt,
        finishedAt,
        next,
      });
      // A failure may trip the receiver's breaker (stopping every delivery to it at once), and
      // a probe's result may close or reopen it; a delivery failing while it is not closed
      // waits held for the release (no attempts spent meanwhile).
      if (sent.outcome !== 'success' || claim.probe) {
        const { state, transition } = await evaluateBreaker(client, {
          dependentSystem: system,
          kind: 'webhook',
          actor: this.claimer,
        });
        if (transition) {
          this.#log.warn(
            {
              dependent_system: system,
              breaker_from: transition.from,
              breaker_to: transition.to,
              reason: transition.reason,
            },
            `breaker ${transition.to}`,
          );
        }
        if (held && next.kind === 'retry' && state !== 'closed') await holdWebhookDelivery(client, claim.id);
      }
      return held;
    });
    if (!fenced) {
      this.#log.warn(
        { delivery_id: claim.id },
        'delivery attempt finished after its claim was lost; recorded as evidence only',
      );
      return;
    }
    this.#counts[next.kind === 'retry' ? 'retrying' : next.kind] += 1;
    const fields = {
      delivery_id: claim.id,
      webhook_id: claim.webhookId,
      event_id: event.id,
      attempt,
      outcome: sent.outcome,
      http_status: sent.httpStatus,
    };
    if (next.kind === 'failed')
      this.#log.warn({ ...fields, error: sent.error }, 'webhook delivery failed for good');
    else if (next.kind === 'retry')
      this.#log.info({ ...fields, error: sent.error }, 'webhook delivery will be retried');
  }
}
