import { describe, expect, it } from 'vitest';
import {
  formatEventCursor,
  isLifecycleEventType,
  LIFECYCLE_EVENT_TYPES,
  parseEventCursor,
} from './events.ts';

describe('event cursors', () => {
  it('round-trip through their text form', () => {
    const cursor = { txId: '9007199254740993', position: '42' };
    expect(parseEventCursor(formatEventCursor(cursor))).toEqual(cursor);
  });

  it('refuse anything else', () => {
    for (const text of ['', '12', '1.2.3', 'a.1', '1.-2', '1.2 ', `${'9'.repeat(20)}.1`]) {
      expect(parseEventCursor(text), text).toBeNull();
    }
  });
});

describe('the lifecycle catalog', () => {
  it('names the seven events Switchyard publishes itself', () => {
    expect(LIFECYCLE_EVENT_TYPES).toEqual([
      'task.completed',
      'task.failed',
      'task.cancelled',
      'step.failed',
      'step.resolved',
      'breaker.opened',
      'breaker.closed',
    ]);
    expect(isLifecycleEventType('task.completed')).toBe(true);
    expect(isLifecycleEventType('user.registered')).toBe(false);
    expect(isLifecycleEventType('toString')).toBe(false);
  });
});
