import { parseEnv } from '@switchyard/config';
import { describe, expect, it } from 'vitest';
import { FleetEnvSchema } from './env.ts';

describe('fleet env', () => {
  it('takes the worker and scheduler settings together and requires handler modules', () => {
    const env = parseEnv(FleetEnvSchema, {
      SWITCHYARD_HANDLER_MODULES: 'h.js',
      SWITCHYARD_SCHEDULER_INTERVAL_MS: '250',
    });
    expect(env).toMatchObject({
      SWITCHYARD_HANDLER_MODULES: ['h.js'],
      SWITCHYARD_SCHEDULER_INTERVAL_MS: 250,
      SWITCHYARD_CONCURRENCY: 10,
    });
    expect(() => parseEnv(FleetEnvSchema, {})).toThrow(/SWITCHYARD_HANDLER_MODULES/);
  });
});
