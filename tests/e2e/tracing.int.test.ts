import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineTemplate } from '@switchyard/core';
import { createPool, registerTemplate } from '@switchyard/db';
import { createTask, startWorker } from '@switchyard/engine';
import { defineApiStepHandler } from '@switchyard/handler-kit';
import { createRedisConnection, StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis } from '@switchyard/testing';
import { InMemorySpanExporter, startTracing, tracer } from '@switchyard/tracing';
import { afterAll, describe, expect, it } from 'vitest';
import { logger, waitFor } from './harness.ts';

const exporter = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'tracing-test', exporter });
afterAll(() => tracing.shutdown());

describe('tracing', () => {
  it('makes one trace of a task: the caller, the task, every step attempt and the services it calls', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(String(req.headers.traceparent));
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const database = await createTestDatabase();
    const testRedis = createTestRedis();
    const pool = createPool(database.url, { max: 4 });
    const redis = createRedisConnection(testRedis.url);
    const dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
    const call = defineApiStepHandler({
      name: 'traced_call',
      call: async (_ctx, http) => (await http.request({ method: 'POST', url: '/work', data: {} })).data,
    });
    const template = defineTemplate({
      namespace: 'tracing',
      name: 'two_calls',
      version: '1.0.0',
      default_dependent_system: 'svc',
      steps: [
        { name: 'first', handler: 'traced_call', handler_config: { base_url: url } },
        { name: 'second', handler: 'traced_call', depends_on: ['first'], handler_config: { base_url: url } },
      ],
    });
    await registerTemplate(pool, template);
    const worker = await startWorker({
      handlers: [call],
      pool,
      redis,
      queuePrefix: testRedis.prefix,
      logger,
    });
    try {
      const { traceId, taskId } = await tracer().startActiveSpan('caller request', async (root) => {
        const { task } = await createTask(
          { pool, dispatcher },
          { namespace: 'tracing', name: 'two_calls', context: {} },
        );
        root.end();
        return { traceId: root.spanContext().traceId, taskId: task.id };
      });
      await waitFor('the task to complete', async () => {
        const { rows } = await pool.query('SELECT status FROM tasks WHERE id = $1', [taskId]);
        return rows[0].status === 'complete';
      });

      const spans = exporter.getFinishedSpans();
      const byName = (name: string) => spans.filter((s) => s.name === name);
      const [create] = byName('task.create');
      const steps = [...byName('step first'), ...byName('step second')];
      expect(create?.spanContext().traceId).toBe(traceId);
      expect(steps).toHaveLength(2);
      for (const step of steps) {
        expect(step.spanContext().traceId).toBe(traceId);
        expect(step.parentSpanContext?.spanId).toBe(create!.spanContext().spanId);
        expect(step.attributes['switchyard.task_id']).toBe(taskId);
      }
      // Each call to the service carries its step attempt's span as parent.
      expect(seen.map((header) => header.split('-')[1])).toEqual([traceId, traceId]);
      expect(seen.map((header) => header.split('-')[2]).sort()).toEqual(
        steps.map((s) => s.spanContext().spanId).sort(),
      );
    } finally {
      await worker.stop(0);
      await dispatcher.close();
      redis.disconnect();
      await pool.end();
      await testRedis.cleanup();
      await database.drop();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
