import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.ts';
import { CALLER_KEY_PATH, missingCallerKeyIssue, taskIdentityHash } from './identity.ts';

const base = { namespace: 'accounts', name: 'signup', version: '1.0.0' };

describe('taskIdentityHash', () => {
  it('strict: same template and context (any key order) give the same hash', () => {
    const a = taskIdentityHash({ ...base, strategy: 'strict', context: { email: 'a@b.co', plan: 'pro' } });
    const b = taskIdentityHash({ ...base, strategy: 'strict', context: { plan: 'pro', email: 'a@b.co' } });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it('strict: another context or version gives another hash', () => {
    const a = taskIdentityHash({ ...base, strategy: 'strict', context: { plan: 'pro' } });
    expect(taskIdentityHash({ ...base, strategy: 'strict', context: { plan: 'free' } })).not.toBe(a);
    expect(
      taskIdentityHash({ ...base, version: '1.1.0', strategy: 'strict', context: { plan: 'pro' } }),
    ).not.toBe(a);
  });

  it('caller_key: the key decides, across versions and contexts', () => {
    const a = taskIdentityHash({ ...base, strategy: 'caller_key', context: { x: 1 }, callerKey: 'k1' });
    const b = taskIdentityHash({
      ...base,
      version: '2.0.0',
      strategy: 'caller_key',
      context: { x: 2 },
      callerKey: 'k1',
    });
    const c = taskIdentityHash({ ...base, strategy: 'caller_key', context: { x: 1 }, callerKey: 'k2' });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('caller_key: a missing key is a validation error on /idempotency_key', () => {
    for (const callerKey of [undefined, null, '']) {
      const call = () => taskIdentityHash({ ...base, strategy: 'caller_key', context: {}, callerKey });
      expect(call).toThrow(ValidationError);
      expect(call).toThrow(
        expect.objectContaining({
          issues: [expect.objectContaining({ path: '/idempotency_key', rule: 'required' })],
        }),
      );
    }
  });

  it('unique: never equal', () => {
    const a = taskIdentityHash({ ...base, strategy: 'unique', context: {} });
    const b = taskIdentityHash({ ...base, strategy: 'unique', context: {} });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).not.toBe(a);
  });

  it("a client's retry key dedupes unique tasks only, and never stands in for a caller's key", () => {
    const retried = taskIdentityHash({ ...base, strategy: 'unique', context: {}, retryKey: 'r1' });
    expect(taskIdentityHash({ ...base, strategy: 'unique', context: { other: 1 }, retryKey: 'r1' })).toBe(
      retried,
    );
    expect(taskIdentityHash({ ...base, strategy: 'unique', context: {}, retryKey: 'r2' })).not.toBe(retried);
    const strict = taskIdentityHash({ ...base, strategy: 'strict', context: { a: 1 } });
    expect(taskIdentityHash({ ...base, strategy: 'strict', context: { a: 1 }, retryKey: 'r1' })).toBe(strict);
    expect(taskIdentityHash({ ...base, strategy: 'unique', context: {}, callerKey: 'r1' })).not.toBe(retried);
    expect(() => taskIdentityHash({ ...base, strategy: 'caller_key', context: {}, retryKey: 'r1' })).toThrow(
      ValidationError,
    );
  });

  it('an explicit key wins under strict and unique', () => {
    const keyed = taskIdentityHash({ ...base, strategy: 'caller_key', context: {}, callerKey: 'k' });
    expect(taskIdentityHash({ ...base, strategy: 'strict', context: { a: 1 }, callerKey: 'k' })).toBe(keyed);
    expect(taskIdentityHash({ ...base, strategy: 'unique', context: {}, callerKey: 'k' })).toBe(keyed);
  });
});

describe('missingCallerKeyIssue', () => {
  it("names the template and the key's wire path when a caller_key template gets no key", () => {
    for (const callerKey of [undefined, null, '']) {
      expect(missingCallerKeyIssue({ ...base, strategy: 'caller_key', callerKey })).toEqual({
        path: CALLER_KEY_PATH,
        rule: 'required',
        message: "template accounts/signup deduplicates by the caller's key; send an idempotency key",
      });
    }
    expect(CALLER_KEY_PATH).toBe('/idempotency_key');
  });

  it('finds nothing missing with a key, or for the other strategies', () => {
    expect(missingCallerKeyIssue({ ...base, strategy: 'caller_key', callerKey: 'k1' })).toBeNull();
    expect(missingCallerKeyIssue({ ...base, strategy: 'strict' })).toBeNull();
    expect(missingCallerKeyIssue({ ...base, strategy: 'unique', callerKey: null })).toBeNull();
  });
});
