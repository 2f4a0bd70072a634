/**
 * OpenTelemetry tracing for every Switchyard process: off unless an OTLP endpoint is configured
 * (the API calls below are then no-ops), W3C trace context everywhere.
 *
 * A task's trace context is stored on its row when it is created (inside the caller's trace, e.g.
 * the API request that created it), and every step attempt, on whichever worker, starts its span
 * as a child of it; the handler's HTTP calls carry the attempt's context. So one task is one
 * trace across the fleet and the services it calls, whatever Redis loses or the scheduler
 * re-dispatches.
 */
import { type Context, context, propagation, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

export { type Context, context, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
export { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export type TracingOptions = {
  serviceName: string;
  /** OTLP/HTTP traces endpoint, e.g. `http://otel-collector:4318/v1/traces`; none turns tracing off. */
  otlpEndpoint?: string | null;
  /** An exporter of your own (tests use an in-memory one); spans are then exported one by one. */
  exporter?: SpanExporter;
};

/** Starts tracing for this process; returns how to flush and stop it. */
export function startTracing(options: TracingOptions): { shutdown(): Promise<void> } {
  const exporter =
    options.exporter ?? (options.otlpEndpoint ? new OTLPTraceExporter({ url: options.otlpEndpoint }) : null);
  if (!exporter) return { shutdown: async () => {} };
  const processor = options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [processor],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

export function tracer() {
  return trace.getTracer('switchyard');
}

/** The W3C `traceparent` of a context (default: the active one), or null outside any trace. */
export function traceparentOf(ctx: Context = context.active()): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent ?? null;
}

/** A context whose remote parent is `traceparent` (the root context when null). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  return traceparent ? propagation.extract(context.active(), { traceparent }) : context.active();
}

/** Ends `span` with the outcome of `work`, recording a thrown error. */
export async function inSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(context.active(), span), work);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
