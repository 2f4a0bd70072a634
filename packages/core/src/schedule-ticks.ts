/**
 * Cron schedules, the pure part: reading a cron expression in a time zone, the ticks after an
 * instant, and which ticks fire when the scheduler looks at a schedule (on time, or missed while
 * no scheduler ran, per the schedule's catch_up). croner does the calendar arithmetic, daylight
 * saving included: a time skipped by a spring-forward does not exist (an interval pattern skips
 * it, a fixed-time pattern such as `30 2 * * *` fires at the first valid time after the gap),
 * and a time repeated by a fall-back fires on both passes for an interval pattern and once, on
 * the first pass, for a fixed-time pattern (Vixie cron's behaviour).
 */
import { Cron } from 'croner';
import { type FieldIssue, ValidationError } from './errors.ts';

/** What a tick does while the schedule's previous task is still running. */
export const SCHEDULE_OVERLAP_POLICIES = ['skip', 'allow', 'cancel_previous'] as const;
export type ScheduleOverlap = (typeof SCHEDULE_OVERLAP_POLICIES)[number];

/** Which ticks missed while no scheduler ran still fire. */
export const SCHEDULE_CATCH_UP_POLICIES = ['none', 'latest', 'all'] as const;
export type ScheduleCatchUp = (typeof SCHEDULE_CATCH_UP_POLICIES)[number];

/** Most ticks one look at a schedule fires (catch_up `all` after a long outage fires the latest ones). */
export const SCHEDULE_MAX_TICKS_PER_RUN = 100;

/** A cron expression read in an IANA time zone. */
export type CronSpec = { cron: string; timezone: string };

/** A parsed schedule: ask it for ticks. */
export type ScheduleClock = {
  /** The first tick strictly after `instant`, or null when the expression has no later tick. */
  nextTick(instant: Date): Date | null;
  /** Up to `count` ticks strictly after `instant`, oldest first. */
  nextTicks(instant: Date, count: number): Date[];
  /** Up to `count` ticks at or before `instant`, newest first. */
  latestTicks(instant: Date, count: number): Date[];
};

/**
 * The problems of a cron expression and a time zone, each naming its field (`/cron`,
 * `/timezone`); empty when both are good and the expression has a tick in the future.
 */
export function checkCronSpec(spec: CronSpec, now = new Date()): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isTimeZone(spec.timezone)) {
    issues.push({
      path: '/timezone',
      rule: 'time_zone',
      message: `"${spec.timezone}" is not a time zone: use an IANA name such as Europe/Berlin, America/New_York or UTC`,
    });
  }
  const fields = spec.cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    issues.push({
      path: '/cron',
      rule: 'cron',
      message: `"${spec.cron}" has ${fields} fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)`,
    });
    return issues;
  }
  try {
    const cron = new Cron(spec.cron, {
      timezone: issues.length ? 'UTC' : spec.timezone,
      mode: '5-or-6-parts',
    });
    if (issues.length === 0 && cron.nextRun(now) === null) {
      issues.push({
        path: '/cron',
        rule: 'cron',
        message: `"${spec.cron}" never fires after ${now.toISOString()}`,
      });
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^CronPattern: /, '') : String(err);
    issues.push({
      path: '/cron',
      rule: 'cron',
      message: `"${spec.cron}" is not a cron expression: ${reason}`,
    });
  }
  return issues;
}

/** Parses a schedule's cron expression in its time zone. @throws ValidationError naming /cron or /timezone */
export function scheduleClock(spec: CronSpec): ScheduleClock {
  const issues = checkCronSpec(spec, new Date(0));
  if (issues.length > 0) throw new ValidationError('invalid schedule', issues);
  const cron = new Cron(spec.cron, { timezone: spec.timezone, mode: '5-or-6-parts' });
  return {
    nextTick: (instant) => cron.nextRun(instant),
    nextTicks: (instant, count) => cron.nextRuns(count, instant),
    // croner's previousRuns returns the ticks strictly before its reference: a millisecond later includes `instant`.
    latestTicks: (instant, count) => cron.previousRuns(count, new Date(instant.getTime() + 1)),
  };
}

/** Input of {@link dueTicks}. */
export type DueTicksInput = {
  clock: ScheduleClock;
  /** The schedule's next_run_at: the oldest tick not yet handled. */
  from: Date;
  now: Date;
  catchUp: ScheduleCatchUp;
  /**
   * A tick at most this late is on time and always fires (a scheduler polls, and may take over
   * from one that died mid-tick); an older one was missed and fires only as catch_up says.
   */
  graceMs: number;
  /** Default {@link SCHEDULE_MAX_TICKS_PER_RUN}. */
  maxTicks?: number;
};

/** Which ticks fire now, how many missed ones do not, and the schedule's new next_run_at. */
export type DueTicks = {
  /** Oldest first. */
  fire: Date[];
  /** Missed ticks that do not fire (a lower bound when the outage spans more than the cap). */
  missedNotFired: number;
  /** The first tick after `now` (null: none). */
  next: Date | null;
};

/**
 * The ticks due between `from` (included) and `now` (included), and which fire:
 * - every on-time tick (no older than `graceMs`);
 * - of the missed ones: none (`none`), the newest (`latest`), each (`all`);
 * at most `maxTicks`, the newest kept. Reads at most `maxTicks` ticks back from `now`, so an
 * outage of any length costs the same.
 */
export function dueTicks(input: DueTicksInput): DueTicks {
  const { clock, from, now, catchUp, graceMs } = input;
  const maxTicks = input.maxTicks ?? SCHEDULE_MAX_TICKS_PER_RUN;
  const next = clock.nextTick(now);
  if (from.getTime() > now.getTime()) return { fire: [], missedNotFired: 0, next: from };
  // One more than the cap, to tell "exactly the cap" from "more than the cap".
  const newestFirst = clock.latestTicks(now, maxTicks + 1).filter((tick) => tick.getTime() >= from.getTime());
  const due = newestFirst.reverse();
  const truncated = due.length > maxTicks;
  if (truncated) due.shift();
  const onTimeSince = now.getTime() - graceMs;
  const missed = due.filter((tick) => tick.getTime() < onTimeSince);
  const onTime = due.filter((tick) => tick.getTime() >= onTimeSince);
  const missedFired = catchUp === 'all' ? missed : catchUp === 'latest' ? missed.slice(-1) : [];
  const missedTotal = missed.length + (truncated ? 1 : 0);
  return { fire: [...missedFired, ...onTime], missedNotFired: missedTotal - missedFired.length, next };
}

/** Whether `name` is a time zone this runtime knows (IANA names, `UTC`). */
export function isTimeZone(name: string): boolean {
  if (!name || name.trim() !== name) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * The caller key of the task a schedule creates for a tick: the same schedule and tick always
 * give the same task identity, so a tick replayed (a scheduler killed after its commit, two
 * schedulers racing) finds the task instead of creating a second one.
 */
export function scheduleTickKey(scheduleId: string, tick: Date): string {
  return `schedule:${scheduleId}:${tick.toISOString()}`;
}

/** How far ahead a delayed start may be. */
export const MAX_RUN_AT_AHEAD_MS = 366 * 24 * 60 * 60 * 1000;

/**
 * When a task asked to start at `runAt` may start: null (at once) for none or a time already
 * past, else `runAt`. @throws ValidationError (/runAt) for a time more than a year ahead
 */
export function delayedStart(runAt: Date | null | undefined, now = new Date()): Date | null {
  if (!runAt || runAt.getTime() <= now.getTime()) return null;
  if (runAt.getTime() - now.getTime() > MAX_RUN_AT_AHEAD_MS) {
    throw new ValidationError('invalid task request', [
      {
        path: '/runAt',
        rule: 'max_delay',
        message: `runAt ${runAt.toISOString()} is more than a year ahead (latest: ${new Date(now.getTime() + MAX_RUN_AT_AHEAD_MS).toISOString()})`,
      },
    ]);
  }
  return runAt;
}
