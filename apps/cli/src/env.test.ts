import { EnvConfigError } from '@switchyard/config';
import { describe, expect, it } from 'vitest';
import { loadCliEnv } from './env.ts';

describe('cli env', () => {
  it('defaults to a local API and database', () => {
    expect(loadCliEnv({})).toMatchObject({
      SWITCHYARD_API_URL: 'http://127.0.0.1:8080',
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/switchyard',
    });
    expect(loadCliEnv({}).SWITCHYARD_API_KEY).toBeUndefined();
  });

  it('names a bad API URL', () => {
    expect(() => loadCliEnv({ SWITCHYARD_API_URL: 'localhost:8080' })).toThrow(EnvConfigError);
  });
});
