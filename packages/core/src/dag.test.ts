import { describe, expect, it } from 'vitest';
import { findDagIssues, topologicalOrder } from './dag.ts';
import { ValidationError } from './errors.ts';

const node = (name: string, ...depends_on: string[]) => ({ name, depends_on });

describe('findDagIssues', () => {
  it('accepts a diamond', () => {
    expect(findDagIssues([node('a'), node('b', 'a'), node('c', 'a'), node('d', 'b', 'c')])).toEqual([]);
  });

  it('reports duplicate step names at the later one', () => {
    expect(findDagIssues([node('a'), node('b'), node('a')])).toEqual([
      {
        path: '/steps/2/name',
        rule: 'duplicate_step',
        message: 'duplicate step name "a" (first declared at /steps/0)',
      },
    ]);
  });

  it('reports an unknown dependency at its index', () => {
    const [issue] = findDagIssues([node('a'), node('b', 'a', 'x')]);
    expect(issue).toMatchObject({ path: '/steps/1/depends_on/1', rule: 'unknown_dependency' });
    expect(issue!.message).toContain('unknown step "x"');
  });

  it('reports a dependency listed twice', () => {
    expect(findDagIssues([node('a'), node('b', 'a', 'a')])).toEqual([
      { path: '/steps/1/depends_on/1', rule: 'duplicate_dependency', message: '"a" is listed twice' },
    ]);
  });

  it('reports a self loop as a cycle', () => {
    expect(findDagIssues([node('a', 'a')])).toEqual([
      { path: '/steps/0/depends_on/0', rule: 'cycle', message: 'step "a" depends on itself (a -> a)' },
    ]);
  });

  it('names a 2-cycle', () => {
    const issues = findDagIssues([node('a', 'b'), node('b', 'a')]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: '/steps/0/depends_on', rule: 'cycle' });
    expect(issues[0]!.message).toContain('a -> b -> a');
  });

  it('names a 3-cycle starting at its first-declared step, once', () => {
    const issues = findDagIssues([node('start'), node('c', 'b'), node('a', 'c', 'start'), node('b', 'a')]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: '/steps/1/depends_on', rule: 'cycle' });
    expect(issues[0]!.message).toContain('c -> b -> a -> c');
  });

  it('reports separate cycles separately', () => {
    const issues = findDagIssues([node('a', 'b'), node('b', 'a'), node('c', 'd'), node('d', 'c')]);
    expect(issues.map((issue) => issue.path)).toEqual(['/steps/0/depends_on', '/steps/2/depends_on']);
  });
});

describe('topologicalOrder', () => {
  it('orders the registration workflow, declaration order among ready steps', () => {
    const steps = [
      node('update_user_status', 'send_welcome_sequence'),
      node('create_user_account'),
      node('send_welcome_sequence', 'setup_billing_profile', 'initialize_preferences'),
      node('setup_billing_profile', 'create_user_account'),
      node('initialize_preferences', 'create_user_account'),
    ];
    expect(topologicalOrder(steps)).toEqual([
      'create_user_account',
      'setup_billing_profile',
      'initialize_preferences',
      'send_welcome_sequence',
      'update_user_status',
    ]);
  });

  it('keeps independent steps in declaration order', () => {
    expect(topologicalOrder([node('z'), node('y'), node('x')])).toEqual(['z', 'y', 'x']);
  });

  it('throws a ValidationError for a cyclic graph', () => {
    expect(() => topologicalOrder([node('a', 'b'), node('b', 'a')])).toThrow(ValidationError);
  });
});
