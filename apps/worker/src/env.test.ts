import { EnvConfigError, parseEnv } from '@switchyard/config';
import { describe, expect, it } from 'vitest';
import { WorkerEnvSchema } from './env.ts';

describe('worker env', () => {
  it('fills in defaults and splits lists', () => {
    const env = parseEnv(WorkerEnvSchema, {
      SWITCHYARD_HANDLER_MODULES: './a.js, ./b.js',
      SWITCHYARD_STEP_TYPES: 'send_email',
      SWITCHYARD_LEASE_MS_BY_STEP_TYPE: 'send_email=60000, charge=5000',
    });
    expect(env).toMatchObject({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/switchyard',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SWITCHYARD_QUEUE_PREFIX: 'switchyard',
      SWITCHYARD_HANDLER_MODULES: ['./a.js', './b.js'],
      SWITCHYARD_STEP_TYPES: ['send_email'],
      SWITCHYARD_TEMPLATE_PATHS: [],
      SWITCHYARD_CONCURRENCY: 10,
      SWITCHYARD_LEASE_MS: 15_000,
      SWITCHYARD_LEASE_MS_BY_STEP_TYPE: { send_email: 60_000, charge: 5_000 },
      SWITCHYARD_SHUTDOWN_GRACE_MS: 20_000,
      SWITCHYARD_EAGER_CLAIM: true,
      SWITCHYARD_CONTINUATION_WAIT_MS: 10,
      LOG_LEVEL: 'info',
    });
  });

  it('names every bad variable with its rule', () => {
    const error = (() => {
      try {
        parseEnv(WorkerEnvSchema, {
          SWITCHYARD_LEASE_MS_BY_STEP_TYPE: 'send_email=soon',
          SWITCHYARD_CONCURRENCY: '0',
          SWITCHYARD_LEASE_MS: 'soon',
          REDIS_URL: 'localhost:6379',
        });
      } catch (err) {
        return err as EnvConfigError;
      }
    })();
    expect(error).toBeInstanceOf(EnvConfigError);
    expect(error!.problems.map((p) => p.variable).sort()).toEqual([
      'REDIS_URL',
      'SWITCHYARD_CONCURRENCY',
      'SWITCHYARD_HANDLER_MODULES',
      'SWITCHYARD_LEASE_MS',
      'SWITCHYARD_LEASE_MS_BY_STEP_TYPE',
    ]);
  });
});
