import { defineTemplate, type TaskTemplate, type TaskTemplateInput } from '@switchyard/core';
import { createApiKey, createPool, type Pool } from '@switchyard/db';
import { type RunningWorker, registerTemplates, startWorker } from '@switchyard/engine';
import type { StepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis } from '@switchyard/testing';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { ApiOptions } from '../src/deps.ts';
import { buildServer } from '../src/server.ts';

/** A listening API on a database and Redis prefix of its own, with helpers for keys and workers. */
export type ApiHarness = {
  app: FastifyInstance;
  url: string;
  pool: Pool;
  redis: Redis;
  dispatcher: StepDispatcher;
  /** Creates an API key and returns the secret. */
  key(scopes: string[], namespaces?: string[]): Promise<string>;
  /** An admin key made at start. */
  adminKey: string;
  /** Fetch against the server with the admin key unless `key` is given ('' for none). */
  call(
    method: string,
    path: string,
    init?: { body?: unknown; key?: string; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    headers: Headers;
    // biome-ignore lint/suspicious/noExplicitAny: tests check response bodies field by field
    body: any;
  }>;
  register(templates: TaskTemplate[]): Promise<void>;
  startWorker(handlers: StepHandler[]): Promise<RunningWorker>;
  /** Counts of rows in every table a write endpoint may touch: equal before and after means nothing changed. */
  rowCounts(): Promise<Record<string, number>>;
  close(): Promise<void>;
};

const logger = createLogger({ name: 'api-test', level: process.env.LOG_LEVEL ?? 'silent' });

export async function createApiHarness(options: Partial<ApiOptions> = {}): Promise<ApiHarness> {
  const database = await createTestDatabase();
  const testRedis = createTestRedis();
  const pool = createPool(database.url, { max: 8 });
  const redis = testRedis.connection();
  const dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
  const app = await buildServer(
    { pool, redis, dispatcher, queuePrefix: testRedis.prefix, logger },
    { authDisabled: false, bodyLimit: 64 * 1024, metricsRequireKey: false, ...options },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const workers: RunningWorker[] = [];
  const key = async (scopes: string[], namespaces: string[] = []) =>
    (
      await createApiKey(pool, {
        name: `k${Math.random().toString(36).slice(2, 8)}`,
        scopes,
        namespaces,
        createdBy: 'test',
      })
    ).key;
  const adminKey = await key(['admin']);
  return {
    app,
    url,
    pool,
    redis,
    dispatcher,
    key,
    adminKey,
    async call(method, path, init = {}) {
      const key = init.key ?? adminKey;
      const headers: Record<string, string> = {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...init.headers,
      };
      if (init.body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        ...(init.body === undefined
          ? {}
          : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: response.status, headers: response.headers, body };
    },
    register: (templates) => registerTemplates(pool, templates),
    async startWorker(handlers) {
      const worker = await startWorker({ handlers, pool, redis, queuePrefix: testRedis.prefix, logger });
      workers.push(worker);
      return worker;
    },
    async rowCounts() {
      const tables = [
        'tasks',
        'workflow_steps',
        'task_transitions',
        'step_transitions',
        'step_attempts',
        'breaker_transitions',
      ];
      const counts: Record<string, number> = {};
      for (const table of tables)
        counts[table] = (await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
      const states = await pool.query(
        `SELECT string_agg(status || attempts, ',' ORDER BY id) AS s FROM workflow_steps`,
      );
      counts[`steps:${states.rows[0].s}`] = 1;
      return counts;
    },
    async close() {
      await Promise.all(workers.splice(0).map((worker) => worker.stop()));
      await app.close();
      await dispatcher.close();
      await pool.end();
      await testRedis.cleanup();
      await database.drop();
    },
  };
}

let counter = 0;
/** A template with a unique name per call in namespace `ns` (default `shop`). */
export function apiTemplate(
  input: Omit<TaskTemplateInput, 'namespace' | 'name' | 'version'> & { namespace?: string; version?: string },
): TaskTemplate {
  counter += 1;
  return defineTemplate({
    namespace: 'shop',
    name: `flow${counter}`,
    version: '1.0.0',
    default_dependent_system: 'svc',
    ...input,
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
