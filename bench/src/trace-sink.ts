/**
 * `pnpm bench --tracing`: tracing on as in production (OTLP over HTTP, batched), exported to a
 * loopback collector that accepts and drops every batch, so the run pays what tracing costs the
 * process (spans, context propagation on every await, export) and nothing else.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTracing } from '@switchyard/tracing';

export async function startTracingToSink(): Promise<{ batches: () => number; stop(): Promise<void> }> {
  let batches = 0;
  const sink = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      batches += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const { port } = sink.address() as AddressInfo;
  const tracing = startTracing({ serviceName: 'bench', otlpEndpoint: `http://127.0.0.1:${port}/v1/traces` });
  return {
    /** Export requests the collector received (each a batch of spans). */
    batches: () => batches,
    async stop() {
      await tracing.shutdown();
      sink.close();
    },
  };
}
