import { describe, expect, it } from 'vitest';
import { chosenOf, decisionDetail, resolvePrompt } from './decisions.ts';

const step = {
  type: null,
  results: null,
  status: 'complete' as const,
  attempts: 1,
  maxAttempts: 3,
  decides: null,
};

describe('decision steps on the task page', () => {
  it('reads what a decision chose from its results', () => {
    expect(chosenOf({ type: 'decision', results: { activate: ['provision_sso'] } })).toEqual([
      'provision_sso',
    ]);
    expect(chosenOf({ type: 'decision', results: null })).toBeNull();
    expect(chosenOf({ type: null, results: { activate: ['x'] } })).toBeNull();
  });

  it('labels the DAG boxes: the choice of a decision, nothing run for a skipped step, else nothing of its own', () => {
    expect(decisionDetail(step)).toBeNull();
    expect(decisionDetail({ ...step, type: 'decision', results: { activate: ['a', 'b'] } })).toBe(
      'chose a, b',
    );
    expect(decisionDetail({ ...step, type: 'decision', results: { activate: [] } })).toBe('chose none');
    expect(decisionDetail({ ...step, status: 'skipped' })).toBe('not run');
  });

  it('asks a decision resolved by hand for its chosen steps, and sends them as chosen', () => {
    const prompt = resolvePrompt({ type: 'decision', decides: ['a', 'b'] });
    expect(prompt.message).toContain('any of "a", "b" ([] for none)');
    expect(prompt.body(['a'])).toEqual({ chosen: ['a'] });
    expect(prompt.body(undefined)).toEqual({ chosen: [] });
    expect(resolvePrompt({ type: null, decides: null }).body({ ok: true })).toEqual({
      results: { ok: true },
    });
  });
});
