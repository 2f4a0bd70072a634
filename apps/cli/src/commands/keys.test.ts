import { describe, expect, it } from 'vitest';
import { UsageError } from '../context.ts';
import { parseDuration, parseNamespaces } from './keys.ts';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['12h', 43_200_000],
    ['30d', 2_592_000_000],
    [' 1d ', 86_400_000],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['0', '0d', '0s', '30', 'd', '1.5h', '-1d', '30 days', '1w', 'soon', '', '3651d'])(
    'refuses "%s" as a usage error',
    (text) => {
      expect(() => parseDuration(text)).toThrow(UsageError);
    },
  );
});

describe('parseNamespaces', () => {
  it('means every namespace only when the option is left out', () => {
    expect(parseNamespaces(undefined)).toEqual([]);
    expect(parseNamespaces(['a', 'b,c'])).toEqual(['a', 'b', 'c']);
  });

  it.each([[['']], [[' ']], [['a,']], [['a', '']]])('refuses an empty name in %j', (values) => {
    expect(() => parseNamespaces(values)).toThrow(/--namespace must name a namespace/);
  });
});
