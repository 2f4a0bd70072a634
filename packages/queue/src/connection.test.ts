import { describe, expect, it } from 'vitest';
import { clusterSeed, hasHashTag } from './connection.ts';

describe('clusterSeed', () => {
  it('takes the seed node, the decoded credentials and TLS from the URL', () => {
    expect(clusterSeed('rediss://switch%40yard:p%3As%2Fs@clustercfg.example.internal:6380')).toEqual({
      seed: { host: 'clustercfg.example.internal', port: 6380 },
      redisOptions: { username: 'switch@yard', password: 'p:s/s', tls: {} },
    });
    expect(clusterSeed('redis://10.0.0.7')).toEqual({
      seed: { host: '10.0.0.7', port: 6379 },
      redisOptions: {},
    });
    expect(clusterSeed('redis://:only-password@[::1]:7000/0')).toEqual({
      seed: { host: '::1', port: 7000 },
      redisOptions: { password: 'only-password' },
    });
  });

  it('refuses a database other than 0 and other schemes', () => {
    expect(() => clusterSeed('redis://node:6379/2')).toThrow(/only database 0; the URL names database 2/);
    expect(() => clusterSeed('http://node:6379')).toThrow(/must start with redis:\/\/ or rediss:\/\//);
  });
});

describe('hasHashTag', () => {
  it.each([
    ['{switchyard}', true],
    ['{switchyard}:eu', true],
    ['eu:{switchyard}', true],
    ['switchyard', false],
    ['{}switchyard', false],
    ['{switchyard', false],
    ['}{x}', true],
  ])('%s → %s', (prefix, expected) => {
    expect(hasHashTag(prefix)).toBe(expected);
  });
});
