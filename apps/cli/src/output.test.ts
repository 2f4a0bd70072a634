import type { Task } from '@switchyard/client';
import { describe, expect, it } from 'vitest';
import { formatTask, table } from './output.ts';

describe('output', () => {
  it('aligns table columns', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['z', 'long'],
        ],
      ),
    ).toBe('A    BB\nxxx  y\nz    long');
  });

  it('renders a task with counted attempts and what each step waits for', () => {
    const step = {
      id: '1',
      handler: 'h',
      attempts: 3,
      uncountedAttempts: 2,
      maxAttempts: 3,
      dependsOn: [],
      dependentSystem: 'billing',
      results: null,
      lastError: { code: 'http_503', message: 'down' },
      nextAttemptAt: '2026-01-01T00:00:05.000Z',
      holdReason: null,
      holdUntil: null,
      enqueuedAt: null,
      startedAt: null,
      completedAt: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    const task = {
      id: 't1',
      namespace: 'shop',
      name: 'order',
      version: '1.0.0',
      status: 'in_progress',
      correlationId: 'c',
      createdAt: '2026-01-01T00:00:00.000Z',
      completedAt: null,
      steps: [
        { ...step, name: 'charge', status: 'waiting_retry' },
        { ...step, name: 'ship', status: 'error', dependsOn: ['charge'], attempts: 1, uncountedAttempts: 0 },
      ],
    } as unknown as Task;
    const text = formatTask(task);
    expect(text).toContain('t1  shop/order@1.0.0  in_progress');
    expect(text).toMatch(/charge\s+waiting_retry\s+1\/3\s+-\s+billing\s+next attempt 2026-01-01 00:00:05Z/);
    expect(text).toMatch(/ship\s+error\s+1\/3\s+charge\s+billing\s+http_503: down/);
  });
});
