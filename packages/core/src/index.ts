/**
 * @switchyard/core: the pure domain of Switchyard (templates, step graph, states, errors,
 * backoff, identity). No I/O: everything here is decided from its arguments.
 */
export * from './adaptive-limits.ts';
export * from './attempts.ts';
export * from './backoff.ts';
export * from './batch-plan.ts';
export * from './breaker.ts';
export * from './canonical.ts';
export * from './context.ts';
export * from './dag.ts';
export * from './decisions.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './holds.ts';
export * from './identity.ts';
export * from './network-address.ts';
export * from './schedule-ticks.ts';
export * from './service-limits.ts';
export * from './states.ts';
export * from './template.ts';
export * from './template-schema.ts';
export * from './webhooks.ts';
