import { ConfigError } from '@switchyard/core';
import type { Pool } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import type { RedisConnection } from '@switchyard/queue';
import { describe, expect, it } from 'vitest';
import { CONTINUATION_WAIT_MS, compileWorkerOptions, type WorkerOptions } from './worker-options.ts';

// Compiling only carries the connections through; it never uses them, so none is opened here.
const base: WorkerOptions = {
  handlers: [defineStepHandler('send_email', () => ({}))],
  pool: {} as Pool,
  redis: {} as RedisConnection,
  logger: createLogger({ name: 'test', level: 'silent' }),
};

describe('compileWorkerOptions', () => {
  it('lets a continuation wait for a slot for CONTINUATION_WAIT_MS unless told otherwise', () => {
    expect(compileWorkerOptions(base).continuationWaitMs).toBe(CONTINUATION_WAIT_MS);
    expect(compileWorkerOptions({ ...base, continuationWaitMs: 0 }).continuationWaitMs).toBe(0);
  });

  it('refuses a wait that is negative or not whole milliseconds, and a worker without slots', () => {
    for (const continuationWaitMs of [-1, 2.5, Number.NaN]) {
      expect(() => compileWorkerOptions({ ...base, continuationWaitMs })).toThrow(
        new ConfigError('continuationWaitMs must be an integer ≥ 0'),
      );
    }
    expect(() => compileWorkerOptions({ ...base, concurrency: 0 })).toThrow(ConfigError);
  });
});
