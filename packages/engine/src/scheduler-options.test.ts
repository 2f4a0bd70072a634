import { hostname } from 'node:os';
import { BREAKER_POLICY_DEFAULTS, ConfigError } from '@switchyard/core';
import type { Pool } from '@switchyard/db';
import { createLogger } from '@switchyard/logger';
import type { RedisConnection } from '@switchyard/queue';
import { describe, expect, it } from 'vitest';
import { compileSchedulerOptions, SCHEDULER_DEFAULTS, type SchedulerOptions } from './scheduler-options.ts';

// Compiling only carries the connections through; it never uses them, so none is opened here.
const base: SchedulerOptions = {
  pool: {} as Pool,
  databaseUrl: 'postgresql://postgres@127.0.0.1:5432/postgres',
  redis: {} as RedisConnection,
  logger: createLogger({ name: 'test', level: 'silent' }),
};

describe('compileSchedulerOptions', () => {
  it('fills in every default', () => {
    const compiled = compileSchedulerOptions(base);
    expect(compiled).toMatchObject({
      ...SCHEDULER_DEFAULTS,
      queuePrefix: 'switchyard',
      schedulerId: `scheduler-${hostname()}-${process.pid}`,
      retention: null,
      breakerPolicies: {},
      serviceLimits: {},
    });
    expect(compiled.pool).toBe(base.pool);
    expect(compiled.redis).toBe(base.redis);
  });

  it('keeps what is given', () => {
    const retention = { olderThanMs: 3_600_000, intervalMs: 0 };
    const compiled = compileSchedulerOptions({
      ...base,
      queuePrefix: '{jobs}',
      intervalMs: 200,
      dispatchGraceMs: 0,
      batchSize: 10,
      missingJobChecksPerSweep: 30,
      schedulerId: 'scheduler-a',
      retention,
    });
    expect(compiled).toMatchObject({
      queuePrefix: '{jobs}',
      intervalMs: 200,
      dispatchGraceMs: 0,
      batchSize: 10,
      missingJobChecksPerSweep: 30,
      schedulerId: 'scheduler-a',
      retention,
    });
  });

  it('treats an empty queue prefix as the default one', () => {
    expect(compileSchedulerOptions({ ...base, queuePrefix: '' }).queuePrefix).toBe('switchyard');
  });

  it('resolves breaker policies against the defaults', () => {
    const compiled = compileSchedulerOptions({ ...base, breakerPolicies: { billing: { open_ms: 60_000 } } });
    expect(compiled.breakerPolicies).toEqual({ billing: { ...BREAKER_POLICY_DEFAULTS, open_ms: 60_000 } });
  });

  it("takes each system's limit from beside its breaker policy", () => {
    const compiled = compileSchedulerOptions({
      ...base,
      breakerPolicies: {
        billing: { open_ms: 60_000, max_concurrent: 4, rate: 5 },
        users: { open_ms: 1_000 },
      },
    });
    expect(compiled.breakerPolicies.billing).toEqual({ ...BREAKER_POLICY_DEFAULTS, open_ms: 60_000 });
    expect(compiled.serviceLimits).toEqual({ billing: { maxConcurrent: 4, rate: 5, burst: 5 } });
  });

  it.each([
    [{ max_concurrent: 0 }, /limit for billing is invalid: max_concurrent: /],
    [{ burst: 2 }, /limit for billing is invalid: burst: burst needs a rate/],
    [{ rate: 0 }, /limit for billing is invalid: rate: /],
  ])('refuses a bad limit %j naming the system and the field', (limit, message) => {
    expect(() => compileSchedulerOptions({ ...base, breakerPolicies: { billing: limit } })).toThrow(message);
  });

  it.each([
    [{ intervalMs: 0 }, 'intervalMs must be an integer ≥ 1'],
    [{ intervalMs: 1.5 }, 'intervalMs must be an integer ≥ 1'],
    [{ intervalMs: Number.NaN }, 'intervalMs must be an integer ≥ 1'],
    [{ dispatchGraceMs: -1 }, 'dispatchGraceMs must be an integer ≥ 0'],
    [{ batchSize: 0 }, 'batchSize must be an integer ≥ 1'],
    [{ missingJobChecksPerSweep: 0 }, 'missingJobChecksPerSweep must be an integer ≥ 1'],
    [{ retention: { olderThanMs: -1, intervalMs: 1_000 } }, 'retention.olderThanMs must be an integer ≥ 0'],
    [{ retention: { olderThanMs: 0, intervalMs: -5 } }, 'retention.intervalMs must be an integer ≥ 0'],
    [{ schedulerId: '' }, 'schedulerId must not be empty'],
    [{ databaseUrl: '' }, 'databaseUrl is required'],
  ] satisfies [Partial<SchedulerOptions>, string][])('refuses %o: %s', (bad, message) => {
    const compile = () => compileSchedulerOptions({ ...base, ...bad });
    expect(compile).toThrow(ConfigError);
    expect(compile).toThrow(message);
  });

  it('names the system and the field of a bad breaker policy', () => {
    const compile = () =>
      compileSchedulerOptions({
        ...base,
        breakerPolicies: { billing: { open_ms: 5, colour: 'red' } as never },
      });
    expect(compile).toThrow(ConfigError);
    expect(compile).toThrow(/breaker policy for billing is invalid: .*open_ms/);
    expect(compile).toThrow(/colour/);
  });
});
