import type { Pool } from '@switchyard/db';
import type { RedisConnection, StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

/** What the API's routes use; built once by the main (or a test) and closed by it. */
export type ApiDeps = {
  pool: Pool;
  /** One Redis server or a Redis Cluster. */
  redis: RedisConnection;
  /**
   * Built with a `timeoutMs`, so a create does not wait for a Redis that is down (its dispatch
   * is then left to the scheduler); the main's connection also fails Redis commands at once.
   */
  dispatcher: StepDispatcher;
  /** BullMQ key prefix of the deployment (cancellation announcements, queue depths). */
  queuePrefix: string;
  logger: Logger;
};

/** Behaviour switches of the server, compiled from the env by the main. */
export type ApiOptions = {
  /** Local development only: every request acts as an admin. */
  authDisabled: boolean;
  /** Largest request body (bytes). */
  bodyLimit: number;
  /** /metrics needs a key with the `operate` scope. */
  metricsRequireKey: boolean;
  /** The dashboard's static build served at /ui; default apps/dashboard/dist of this repository. */
  dashboardDir?: string;
  /** How long to wait for clients and for Redis; any not given takes its default. */
  timeouts?: Partial<ApiTimeouts>;
  /** Task event streams: the shared tail's poll interval, the heartbeat. */
  events?: EventStreamOptions;
  /**
   * Accept webhook URLs whose host is (or resolves to) a loopback, private or link-local
   * address (SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS). Default false: such a URL is a 400.
   */
  allowPrivateWebhookTargets?: boolean;
};

/** Task event streams (GET /v1/tasks/{id}/events). */
export type EventStreamOptions = {
  /** How often the process's one tail of the event log reads it while a stream listens (ms). Default 200. */
  pollMs?: number;
  /** A `: keep-alive` comment goes down every open stream this often (ms). Default 15 000. */
  heartbeatMs?: number;
};

/** Request and dependency timeouts (ms), from the SWITCHYARD_API_*_TIMEOUT_MS variables. */
export type ApiTimeouts = {
  /** A request's headers must arrive within it (408). */
  headersMs: number;
  /** A whole request, headers and body, must arrive within it (408). */
  requestMs: number;
  /** A connection with no traffic either way for this long is closed. */
  idleMs: number;
  /** Longest wait for Redis in a request (a dispatch, a queue read); readiness waits at most 1.5 s. */
  redisMs: number;
};

/** The defaults, as in the API's env schema. */
export const DEFAULT_API_TIMEOUTS: ApiTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  idleMs: 60_000,
  redisMs: 2_000,
};
