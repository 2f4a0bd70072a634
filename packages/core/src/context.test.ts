import { describe, expect, it } from 'vitest';
import { checkJsonSchema, compileContextValidator, validateContext } from './context.ts';
import { ValidationError } from './errors.ts';

const signupSchema = {
  type: 'object',
  required: ['email', 'plan'],
  properties: {
    email: { type: 'string', format: 'email' },
    plan: { enum: ['free', 'pro'] },
    name: { type: 'string', minLength: 1 },
    address: { type: 'object', properties: { zip: { type: 'string' } }, additionalProperties: false },
  },
};

describe('compileContextValidator', () => {
  const validate = compileContextValidator(signupSchema);

  it('accepts a valid context', () => {
    expect(validate({ email: 'ada@example.com', plan: 'pro' })).toEqual([]);
  });

  it('reports one issue per failing field, with paths and keywords', () => {
    expect(validate({ email: 'not-an-email', plan: 'gold', name: '' })).toEqual([
      { path: '/email', rule: 'format', message: 'must match format "email"' },
      { path: '/plan', rule: 'enum', message: 'must be one of "free", "pro"' },
      { path: '/name', rule: 'minLength', message: 'must NOT have fewer than 1 characters' },
    ]);
  });

  it('puts a missing required property in the path', () => {
    expect(validate({ plan: 'free' })).toEqual([
      { path: '/email', rule: 'required', message: 'is required' },
    ]);
  });

  it('names nested and unexpected properties', () => {
    expect(validate({ email: 'a@b.co', plan: 'free', address: { zip: 1, street: 'x' } })).toEqual([
      { path: '/address/street', rule: 'additionalProperties', message: 'is not allowed' },
      { path: '/address/zip', rule: 'type', message: 'must be string' },
    ]);
  });

  it('reports a wrong root type at the root path', () => {
    expect(validate('hello')).toEqual([{ path: '', rule: 'type', message: 'must be object' }]);
  });

  it('caches by content, not by object identity or key order', () => {
    const reordered = { properties: signupSchema.properties, required: ['email', 'plan'], type: 'object' };
    expect(compileContextValidator(reordered)).toBe(validate);
  });

  it('compiles two schemas that share an $id', () => {
    const a = compileContextValidator({ $id: 'https://example.com/ctx', type: 'object', required: ['a'] });
    const b = compileContextValidator({ $id: 'https://example.com/ctx', type: 'object', required: ['b'] });
    expect(a({})).toEqual([{ path: '/a', rule: 'required', message: 'is required' }]);
    expect(b({})).toEqual([{ path: '/b', rule: 'required', message: 'is required' }]);
  });
});

describe('validateContext', () => {
  it('throws a ValidationError listing the issues', () => {
    const error = (() => {
      try {
        validateContext(signupSchema, { email: 'nope', plan: 'free' });
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toBe(
      'invalid task context: /email: must match format "email" (format)',
    );
  });

  it('passes a valid context', () => {
    expect(() => validateContext(signupSchema, { email: 'a@b.co', plan: 'free' })).not.toThrow();
  });
});

describe('checkJsonSchema', () => {
  it('returns null for a valid schema', () => {
    expect(checkJsonSchema(signupSchema)).toBeNull();
  });

  it("returns ajv's message for an invalid one", () => {
    expect(checkJsonSchema({ type: 'objekt' })).toMatch(/schema is invalid/);
    expect(checkJsonSchema({ $ref: '#/definitions/missing' })).toMatch(/can't resolve reference/);
  });
});

describe('defaults', () => {
  it('fills in the schema defaults on a copy of the context', () => {
    const schema = { type: 'object', properties: { plan: { enum: ['free', 'pro'], default: 'free' } } };
    const input = { email: 'a@example.com' };
    expect(validateContext(schema, input)).toEqual({ email: 'a@example.com', plan: 'free' });
    expect(input).toEqual({ email: 'a@example.com' });
  });
});
