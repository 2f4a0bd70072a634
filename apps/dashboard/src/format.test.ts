import { describe, expect, it } from 'vitest';
import { formatDuration, formatRate, shortId } from './format.ts';

describe('formatting', () => {
  it('reads durations at the scale that matters', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(85)).toBe('85 ms');
    expect(formatDuration(2_500)).toBe('2.5 s');
    expect(formatDuration(60_000)).toBe('1 min');
  });

  it('gives no rate for no calls rather than 0%', () => {
    expect(formatRate(0, 0)).toBe('—');
    expect(formatRate(1, 4)).toBe('25%');
  });

  it('shortens ids to their first block', () => {
    expect(shortId('6f1c2a3b-0000-4000-8000-000000000000')).toBe('6f1c2a3b');
  });
});
