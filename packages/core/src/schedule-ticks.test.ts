import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.ts';
import {
  checkCronSpec,
  delayedStart,
  dueTicks,
  MAX_RUN_AT_AHEAD_MS,
  scheduleClock,
  scheduleTickKey,
} from './schedule-ticks.ts';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const at = (text: string) => new Date(text);

describe('schedule ticks across daylight-saving transitions', () => {
  // Europe/Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00 UTC);
  // 2026-10-25 03:00 CEST falls back to 02:00 CET (01:00 UTC), so 02:00–02:59 happens twice.
  it('an interval pattern skips the hour that does not exist at spring-forward', () => {
    const clock = scheduleClock({ cron: '*/30 * * * *', timezone: 'Europe/Berlin' });
    expect(iso(clock.nextTicks(at('2026-03-29T00:00:00Z'), 4))).toEqual([
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:00 and 02:30 never happened
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-29T02:00:00.000Z',
    ]);
  });

  it('a fixed time inside the skipped hour fires at the first valid time after the gap, that day only', () => {
    const clock = scheduleClock({ cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    expect(iso(clock.nextTicks(at('2026-03-28T00:00:00Z'), 3))).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first valid time after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('an interval pattern fires on both passes through the repeated hour at fall-back', () => {
    const clock = scheduleClock({ cron: '*/30 * * * *', timezone: 'Europe/Berlin' });
    expect(iso(clock.nextTicks(at('2026-10-24T23:50:00Z'), 6))).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET, the second pass
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
      '2026-10-25T02:30:00.000Z',
    ]);
  });

  it('a fixed time inside the repeated hour fires once, on the first pass', () => {
    const clock = scheduleClock({ cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    expect(iso(clock.nextTicks(at('2026-10-24T12:00:00Z'), 2))).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST only
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('a daily 09:00 in America/New_York keeps local time across both transitions', () => {
    const clock = scheduleClock({ cron: '0 9 * * *', timezone: 'America/New_York' });
    // Spring forward on 2026-03-08, fall back on 2026-11-01.
    expect(iso(clock.nextTicks(at('2026-03-07T00:00:00Z'), 2))).toEqual([
      '2026-03-07T14:00:00.000Z', // EST, UTC-5
      '2026-03-08T13:00:00.000Z', // EDT, UTC-4
    ]);
    expect(iso(clock.nextTicks(at('2026-10-31T00:00:00Z'), 2))).toEqual([
      '2026-10-31T13:00:00.000Z',
      '2026-11-01T14:00:00.000Z',
    ]);
  });

  it('missed ticks across a spring-forward are the ticks that existed', () => {
    const clock = scheduleClock({ cron: '0 * * * *', timezone: 'Europe/Berlin' });
    const due = dueTicks({
      clock,
      from: at('2026-03-28T23:00:00Z'), // 00:00 CET
      now: at('2026-03-29T02:00:00Z'), // 04:00 CEST
      catchUp: 'all',
      graceMs: 0,
    });
    // 00:00, 01:00 CET, then 03:00 and 04:00 CEST: 02:00 did not exist.
    expect(iso(due.fire)).toEqual([
      '2026-03-28T23:00:00.000Z',
      '2026-03-29T00:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T02:00:00.000Z',
    ]);
  });
});

describe('dueTicks', () => {
  const everyMinute = scheduleClock({ cron: '* * * * *', timezone: 'UTC' });
  const base = { clock: everyMinute, graceMs: 5_000 };

  it('fires the one tick that is due on time and moves next to the following one', () => {
    const due = dueTicks({
      ...base,
      from: at('2026-01-01T10:00:00Z'),
      now: at('2026-01-01T10:00:00.400Z'),
      catchUp: 'none',
    });
    expect(iso(due.fire)).toEqual(['2026-01-01T10:00:00.000Z']);
    expect(due.missedNotFired).toBe(0);
    expect(due.next?.toISOString()).toBe('2026-01-01T10:01:00.000Z');
  });

  it('fires nothing before the next tick', () => {
    const due = dueTicks({
      ...base,
      from: at('2026-01-01T10:01:00Z'),
      now: at('2026-01-01T10:00:30Z'),
      catchUp: 'all',
    });
    expect(due).toEqual({ fire: [], missedNotFired: 0, next: at('2026-01-01T10:01:00Z') });
  });

  // An outage from 10:00 to 10:05:02: 10:00 … 10:04 were missed, 10:05 is on time.
  const afterOutage = { from: at('2026-01-01T10:00:00Z'), now: at('2026-01-01T10:05:02Z') };

  it('catch_up none fires only the on-time tick', () => {
    const due = dueTicks({ ...base, ...afterOutage, catchUp: 'none' });
    expect(iso(due.fire)).toEqual(['2026-01-01T10:05:00.000Z']);
    expect(due.missedNotFired).toBe(5);
  });

  it('catch_up latest fires the newest missed tick as well', () => {
    const due = dueTicks({ ...base, ...afterOutage, catchUp: 'latest' });
    expect(iso(due.fire)).toEqual(['2026-01-01T10:04:00.000Z', '2026-01-01T10:05:00.000Z']);
    expect(due.missedNotFired).toBe(4);
  });

  it('catch_up latest after an outage that ended between ticks fires one task for the latest missed tick', () => {
    const due = dueTicks({
      ...base,
      from: afterOutage.from,
      now: at('2026-01-01T10:05:30Z'),
      catchUp: 'latest',
    });
    expect(iso(due.fire)).toEqual(['2026-01-01T10:05:00.000Z']);
    expect(due.next?.toISOString()).toBe('2026-01-01T10:06:00.000Z');
  });

  it('catch_up all fires every missed tick, oldest first', () => {
    const due = dueTicks({ ...base, ...afterOutage, catchUp: 'all' });
    expect(due.fire).toHaveLength(6);
    expect(due.fire[0]?.toISOString()).toBe('2026-01-01T10:00:00.000Z');
    expect(due.missedNotFired).toBe(0);
  });

  it('catch_up all after a week-long outage fires the newest ticks up to the cap, quickly', () => {
    const started = performance.now();
    const due = dueTicks({
      ...base,
      from: at('2026-01-01T00:00:00Z'),
      now: at('2026-01-08T00:00:30Z'),
      catchUp: 'all',
      maxTicks: 100,
    });
    expect(performance.now() - started).toBeLessThan(500);
    expect(due.fire).toHaveLength(100);
    expect(due.fire.at(-1)?.toISOString()).toBe('2026-01-08T00:00:00.000Z');
    expect(due.fire[0]?.toISOString()).toBe('2026-01-07T22:21:00.000Z');
    expect(due.missedNotFired).toBeGreaterThan(0);
  });

  it('a tick late by less than the grace is on time whatever catch_up says (a scheduler took over)', () => {
    const due = dueTicks({
      ...base,
      from: at('2026-01-01T10:00:00Z'),
      now: at('2026-01-01T10:00:04Z'),
      catchUp: 'none',
    });
    expect(iso(due.fire)).toEqual(['2026-01-01T10:00:00.000Z']);
  });
});

describe('checkCronSpec', () => {
  it('accepts five and six fields in a known time zone', () => {
    expect(checkCronSpec({ cron: '*/5 * * * *', timezone: 'Europe/Berlin' })).toEqual([]);
    expect(checkCronSpec({ cron: '* * * * * *', timezone: 'UTC' })).toEqual([]);
  });

  it('names a cron that does not parse, with the reason', () => {
    const [issue] = checkCronSpec({ cron: '61 * * * *', timezone: 'UTC' });
    expect(issue?.path).toBe('/cron');
    expect(issue?.message).toContain('61 * * * *');
    expect(issue?.message).toMatch(/minute/);
    expect(checkCronSpec({ cron: 'every day', timezone: 'UTC' })[0]?.message).toContain('has 2 fields');
  });

  it('names an unknown time zone', () => {
    const issues = checkCronSpec({ cron: '* * * * *', timezone: 'Mars/Olympus' });
    expect(issues).toEqual([expect.objectContaining({ path: '/timezone', rule: 'time_zone' })]);
  });

  it('refuses an expression that never fires', () => {
    expect(checkCronSpec({ cron: '0 0 30 2 *', timezone: 'UTC' })[0]?.message).toContain('never fires');
  });

  it('scheduleClock throws a ValidationError with the issues', () => {
    expect(() => scheduleClock({ cron: 'nope', timezone: 'Nowhere' })).toThrow(ValidationError);
  });
});

describe('scheduleTickKey and delayedStart', () => {
  it('the key is the same for the same schedule and tick only', () => {
    const tick = at('2026-01-01T10:00:00Z');
    expect(scheduleTickKey('s1', tick)).toBe(scheduleTickKey('s1', new Date(tick)));
    expect(scheduleTickKey('s1', tick)).not.toBe(scheduleTickKey('s2', tick));
    expect(scheduleTickKey('s1', tick)).not.toBe(scheduleTickKey('s1', at('2026-01-01T10:01:00Z')));
  });

  it('a runAt in the past or absent starts at once; one in the future is kept; over a year is refused', () => {
    const now = at('2026-01-01T00:00:00Z');
    expect(delayedStart(undefined, now)).toBeNull();
    expect(delayedStart(at('2025-12-31T00:00:00Z'), now)).toBeNull();
    expect(delayedStart(at('2026-01-01T00:05:00Z'), now)?.toISOString()).toBe('2026-01-01T00:05:00.000Z');
    const tooFar = new Date(now.getTime() + MAX_RUN_AT_AHEAD_MS + 1000);
    expect(() => delayedStart(tooFar, now)).toThrow(/more than a year ahead/);
  });
});
