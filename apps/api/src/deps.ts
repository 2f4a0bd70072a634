import type { Pool } from '@switchyard/db';
import type { RedisConnection, StepDispatcher } from '@switchyard/queue';
import type { Logger } from 'pino';

/** What the API's routes use; built once by the main (or a test) and closed by it. */
export type ApiDeps = {
  pool: Pool;
  /** One Redis server or a Redis Cluster. */
  redis: RedisConnection;
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
};
