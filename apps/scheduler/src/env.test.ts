import { EnvConfigError, parseEnv } from '@switchyard/config';
import { describe, expect, it } from 'vitest';
import { SchedulerEnvSchema } from './env.ts';

describe('scheduler env', () => {
  it('fills in defaults', () => {
    expect(parseEnv(SchedulerEnvSchema, {})).toMatchObject({
      SWITCHYARD_SCHEDULER_INTERVAL_MS: 1_000,
      SWITCHYARD_DISPATCH_GRACE_MS: 2_000,
      SWITCHYARD_SCHEDULER_BATCH_SIZE: 500,
      SWITCHYARD_SCHEDULE_POLL_MS: 500,
      SWITCHYARD_SCHEDULE_GRACE_MS: 10_000,
      SWITCHYARD_LIMIT_ADAPT_MS: 1_000,
      SWITCHYARD_WEBHOOK_CONCURRENCY: 16,
      SWITCHYARD_WEBHOOK_POLL_MS: 250,
      SWITCHYARD_WEBHOOK_LEASE_MS: 60_000,
      SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS: false,
    });
  });

  it('reads the webhook delivery settings, and refuses a lease the POST timeout could outlast', () => {
    expect(
      parseEnv(SchedulerEnvSchema, {
        SWITCHYARD_WEBHOOK_CONCURRENCY: '4',
        SWITCHYARD_WEBHOOK_POLL_MS: '50',
        SWITCHYARD_WEBHOOK_LEASE_MS: '30000',
      }),
    ).toMatchObject({
      SWITCHYARD_WEBHOOK_CONCURRENCY: 4,
      SWITCHYARD_WEBHOOK_POLL_MS: 50,
      SWITCHYARD_WEBHOOK_LEASE_MS: 30_000,
    });
    expect(() => parseEnv(SchedulerEnvSchema, { SWITCHYARD_WEBHOOK_LEASE_MS: '10000' })).toThrow(
      /SWITCHYARD_WEBHOOK_LEASE_MS/,
    );
    expect(() => parseEnv(SchedulerEnvSchema, { SWITCHYARD_WEBHOOK_CONCURRENCY: '0' })).toThrow(
      /SWITCHYARD_WEBHOOK_CONCURRENCY/,
    );
  });

  it('reads breaker policies as JSON and names a malformed value', () => {
    const env = parseEnv(SchedulerEnvSchema, {
      SWITCHYARD_BREAKER_POLICIES: '{"billing":{"open_ms":60000}}',
    });
    expect(env.SWITCHYARD_BREAKER_POLICIES).toEqual({ billing: { open_ms: 60_000 } });
    expect(() => parseEnv(SchedulerEnvSchema, { SWITCHYARD_BREAKER_POLICIES: '[1]' })).toThrow(
      /SWITCHYARD_BREAKER_POLICIES/,
    );
  });

  it('rejects an interval below its minimum', () => {
    expect(() => parseEnv(SchedulerEnvSchema, { SWITCHYARD_SCHEDULER_INTERVAL_MS: '10' })).toThrow(
      EnvConfigError,
    );
  });
});
