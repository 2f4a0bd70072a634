import { describe, expect, it } from 'vitest';
import { findUnstorableInput, MAX_INPUT_DEPTH } from './input-guard.ts';

describe('findUnstorableInput', () => {
  it('accepts ordinary JSON, emoji included', () => {
    expect(findUnstorableInput({ a: ['x', 1, null, { b: 'café 🚂' }] })).toEqual([]);
  });

  it('names NUL characters and lone surrogates in values and keys', () => {
    expect(findUnstorableInput({ a: 'x\u0000y', list: ['\ud800'], 'k\u0000': 1, 'a/b': '\udc00' })).toEqual([
      { path: '/a', rule: 'storable_text', message: 'contains a NUL character' },
      { path: '/list/0', rule: 'storable_text', message: 'contains an unpaired UTF-16 surrogate' },
      { path: '/k\u0000', rule: 'storable_text', message: 'key contains a NUL character' },
      { path: '/a~1b', rule: 'storable_text', message: 'contains an unpaired UTF-16 surrogate' },
    ]);
  });

  it('names numbers JSON cannot hold', () => {
    expect(findUnstorableInput(JSON.parse('{"n":1e400,"list":[-1e999,1.5e308]}'))).toEqual([
      { path: '/n', rule: 'finite_number', message: 'is a number JSON cannot hold (beyond ±1.8e308)' },
      { path: '/list/0', rule: 'finite_number', message: 'is a number JSON cannot hold (beyond ±1.8e308)' },
    ]);
  });

  it('refuses nesting deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_INPUT_DEPTH + 5; i++) deep = [deep];
    expect(findUnstorableInput({ context: deep })).toEqual([
      expect.objectContaining({ rule: 'max_depth', path: expect.stringMatching(/^\/context(\/0)+$/) }),
    ]);
  });
});
