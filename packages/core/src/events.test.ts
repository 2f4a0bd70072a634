import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.ts';
import {
  eventsToPublish,
  formatEventCursor,
  isLifecycleEventType,
  LIFECYCLE_EVENT_TYPES,
  parseEventCursor,
  publishesOn,
} from './events.ts';
import { defineTemplate } from './template.ts';
import type { PublishedEvent } from './template-schema.ts';

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

describe('publish conditions', () => {
  it('match the attempts they name', () => {
    const ends = [{ ok: true }, { ok: false, final: false }, { ok: false, final: true }] as const;
    const table = Object.fromEntries(
      (['success', 'failure', 'permanent_failure', 'always'] as const).map((when) => [
        when,
        ends.map((end) => publishesOn(when, end)),
      ]),
    );
    expect(table).toEqual({
      success: [true, false, false],
      failure: [false, true, true],
      permanent_failure: [false, false, true],
      always: [true, true, true],
    });
  });

  it('take the published payload, else the fallback, and check it against the schema', () => {
    const declared: PublishedEvent[] = [
      { name: 'user.registered', when: 'success', schema: { type: 'object', required: ['id'] } },
      { name: 'user.seen', when: 'always', schema: null },
      { name: 'user.lost', when: 'failure', schema: null },
    ];
    const published = new Map([['user.registered', { id: 'u1' }]]);
    expect(eventsToPublish(declared, { ok: true }, published, { result: 1 })).toEqual([
      { name: 'user.registered', payload: { id: 'u1' } },
      { name: 'user.seen', payload: { result: 1 } },
    ]);
    const invalid = () => eventsToPublish(declared, { ok: true }, new Map(), { result: 1 });
    expect(invalid).toThrow(ValidationError);
    expect(invalid).toThrow(/\/publishes\/user.registered/);
  });
});

describe('publishes in a template', () => {
  const template = (publishes: unknown) => () =>
    defineTemplate({
      namespace: 'ns',
      name: 'events',
      version: '1.0.0',
      default_dependent_system: 'svc',
      steps: [{ name: 'a', publishes } as never],
    });

  it('fills when and schema, and leaves a step without events as it was', () => {
    expect(template([{ name: 'user.registered' }])().steps[0]!.publishes).toEqual([
      { name: 'user.registered', when: 'success', schema: null },
    ]);
    expect(template(undefined)().steps[0]).not.toHaveProperty('publishes');
  });

  it('refuses reserved, duplicate and malformed names, and unknown conditions', () => {
    expect(template([{ name: 'task.completed' }])).toThrow(/reserved_event/);
    expect(template([{ name: 'user.a' }, { name: 'user.a' }])).toThrow(/duplicate_event/);
    expect(template([{ name: 'registered' }])).toThrow(/publishes\/0\/name/);
    expect(template([{ name: 'user.a', when: 'sometimes' }])).toThrow(/publishes\/0\/when/);
  });
});
