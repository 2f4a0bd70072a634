import { describe, expect, it } from 'vitest';
import { isSecretKey, REDACTED, redactSecrets, redactTask } from './redact.ts';

describe('redactSecrets', () => {
  it('hides values under secret-named keys at any depth, and keeps the rest', () => {
    const input = {
      email: 'a@example.com',
      password: 'hunter2',
      billing: { card_number: '4242424242424242', cvv: '123', plan: 'pro' },
      auth: [{ access_token: 'abc', apiKey: 'k', 'X-Api-Key': 'k2', scope: 'read' }],
      nested: { clientSecret: { anything: 'inside' } },
    };
    expect(redactSecrets(input)).toEqual({
      email: 'a@example.com',
      password: REDACTED,
      billing: { card_number: REDACTED, cvv: REDACTED, plan: 'pro' },
      auth: [{ access_token: REDACTED, apiKey: REDACTED, 'X-Api-Key': REDACTED, scope: 'read' }],
      nested: { clientSecret: REDACTED },
    });
    expect(input.password).toBe('hunter2');
  });

  it('leaves scalars and null alone', () => {
    expect(redactSecrets('token')).toBe('token');
    expect(redactSecrets(null)).toBeNull();
    expect(redactSecrets(3)).toBe(3);
  });

  it('names secrets in the usual spellings, not look-alikes', () => {
    for (const key of [
      'Password',
      'passwd',
      'refreshToken',
      'api_key',
      'API Key',
      'Authorization',
      'ssn',
      'pin',
    ])
      expect(isSecretKey(key), key).toBe(true);
    for (const key of ['email', 'user_id', 'plan', 'spinner', 'lessons', 'compass_heading'])
      expect(isSecretKey(key), key).toBe(false);
  });
});

describe('redactTask', () => {
  it("redacts the context and every step's results and last error", () => {
    const task = {
      id: 't',
      context: { email: 'a@example.com', password: 'p' },
      steps: [{ name: 's', results: { token: 't', ok: true }, lastError: { secret: 'x', message: 'boom' } }],
    };
    expect(redactTask(task)).toEqual({
      id: 't',
      context: { email: 'a@example.com', password: REDACTED },
      steps: [
        {
          name: 's',
          results: { token: REDACTED, ok: true },
          lastError: { secret: REDACTED, message: 'boom' },
        },
      ],
    });
  });
});
