import { EnvConfigError, parseEnv } from '@switchyard/config';
import { describe, expect, it } from 'vitest';
import { ApiEnvSchema } from './env.ts';

describe('api env', () => {
  it('fills in defaults: auth on, metrics open, 1 MiB bodies', () => {
    expect(parseEnv(ApiEnvSchema, {})).toMatchObject({
      SWITCHYARD_API_HOST: '0.0.0.0',
      SWITCHYARD_API_PORT: 8080,
      SWITCHYARD_API_BODY_LIMIT: 1_048_576,
      SWITCHYARD_API_AUTH_DISABLED: false,
      SWITCHYARD_METRICS_REQUIRE_KEY: false,
      SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS: false,
    });
  });

  it('allows private webhook targets only when told to, in so many words', () => {
    const allowed = (value: string) =>
      parseEnv(ApiEnvSchema, { SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS: value })
        .SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS;
    expect(allowed('true')).toBe(true);
    expect(allowed('false')).toBe(false);
    expect(() => allowed('yes please')).toThrow(/SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS/);
  });

  it('reads "false" as false and names every bad variable', () => {
    expect(
      parseEnv(ApiEnvSchema, { SWITCHYARD_API_AUTH_DISABLED: 'false' }).SWITCHYARD_API_AUTH_DISABLED,
    ).toBe(false);
    const error = (() => {
      try {
        parseEnv(ApiEnvSchema, {
          SWITCHYARD_API_PORT: '70000',
          SWITCHYARD_API_AUTH_DISABLED: 'sure',
          SWITCHYARD_API_BODY_LIMIT: '1MB',
        });
      } catch (err) {
        return err as EnvConfigError;
      }
    })();
    expect(error).toBeInstanceOf(EnvConfigError);
    expect(error!.problems.map((p) => p.variable).sort()).toEqual([
      'SWITCHYARD_API_AUTH_DISABLED',
      'SWITCHYARD_API_BODY_LIMIT',
      'SWITCHYARD_API_PORT',
    ]);
  });
});

describe('api timeouts', () => {
  it('defaults: headers 10 s, whole request 30 s, idle 60 s, Postgres connect 5 s and statements 10 s, Redis 2 s', () => {
    expect(parseEnv(ApiEnvSchema, {})).toMatchObject({
      SWITCHYARD_API_HEADERS_TIMEOUT_MS: 10_000,
      SWITCHYARD_API_REQUEST_TIMEOUT_MS: 30_000,
      SWITCHYARD_API_IDLE_TIMEOUT_MS: 60_000,
      SWITCHYARD_API_DATABASE_CONNECT_TIMEOUT_MS: 5_000,
      SWITCHYARD_API_STATEMENT_TIMEOUT_MS: 10_000,
      SWITCHYARD_API_REDIS_TIMEOUT_MS: 2_000,
    });
  });

  it('refuses a headers timeout longer than the request timeout (Node would refuse to start)', () => {
    const error = (() => {
      try {
        parseEnv(ApiEnvSchema, {
          SWITCHYARD_API_HEADERS_TIMEOUT_MS: '20000',
          SWITCHYARD_API_REQUEST_TIMEOUT_MS: '5000',
        });
      } catch (err) {
        return err as EnvConfigError;
      }
    })();
    expect(error).toBeInstanceOf(EnvConfigError);
    expect(error!.problems).toEqual([
      {
        variable: 'SWITCHYARD_API_HEADERS_TIMEOUT_MS',
        rule: 'must not exceed SWITCHYARD_API_REQUEST_TIMEOUT_MS',
      },
    ]);
  });
});
