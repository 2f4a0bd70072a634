import { describe, expect, it } from 'vitest';
import { href, parseRoute, type Route } from './route.ts';

describe('routes', () => {
  it('reads every page from the hash, and falls back to the task list', () => {
    expect(parseRoute('')).toEqual({ page: 'tasks' });
    expect(parseRoute('#/tasks')).toEqual({ page: 'tasks' });
    expect(parseRoute('#/tasks/6f1c')).toEqual({ page: 'task', id: '6f1c' });
    expect(parseRoute('#/breakers')).toEqual({ page: 'breakers' });
    expect(parseRoute('#/breakers/billing%20service')).toEqual({
      page: 'breakers',
      system: 'billing service',
    });
    expect(parseRoute('#/templates/accounts/signup')).toEqual({
      page: 'templates',
      namespace: 'accounts',
      name: 'signup',
    });
    expect(parseRoute('#/queues')).toEqual({ page: 'queues' });
    expect(parseRoute('#/schedules')).toEqual({ page: 'schedules' });
    expect(parseRoute('#/nowhere')).toEqual({ page: 'tasks' });
  });

  it('reads a hash whose percent-encoding is malformed as not found, instead of throwing', () => {
    for (const hash of ['#/tasks/%E0%A4%A', '#/breakers/%', '#/templates/a/%zz', '#/%E0%A4%A']) {
      expect(parseRoute(hash)).toEqual({ page: 'not_found', hash });
    }
    expect(href(parseRoute('#/tasks/%E0%A4%A'))).toBe('#/tasks/%E0%A4%A');
  });

  it('writes links that read back as the same route, whatever the names hold', () => {
    const routes: Route[] = [
      { page: 'tasks' },
      { page: 'task', id: 'abc' },
      { page: 'breakers' },
      { page: 'breakers', system: 'a/b #c' },
      { page: 'templates', namespace: 'ns/1', name: 'n?2' },
      { page: 'queues' },
      { page: 'schedules' },
    ];
    for (const route of routes) expect(parseRoute(href(route))).toEqual(route);
  });
});
