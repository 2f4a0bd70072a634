/**
 * The demo's slowdown phase: billing does not go down, it gets ten times slower. Billing works on
 * two requests at a time, so every call sent beyond that waits inside billing, and with 16
 * billing slots in the fleet the wait outgrows the step's 2 s timeout: calls time out, are
 * retried, and the retries add to the pile. The adaptive limit on billing_service follows
 * billing's latency down (the scheduler judges billing's recorded calls against its own healthy
 * latency) and keeps the calls in flight few enough that none waits that long; the steps it does
 * not admit wait in Switchyard, held, using no attempt. Billing itself measures the most calls
 * it had in flight; the summary lists the limit's changes with the reason for each.
 */
import type { Pool } from '@switchyard/db';
import type { RunningService } from '../services/index.ts';

/**
 * Billing's speed through the demo: 30 ms a request, two requests worked on at once (the rest
 * wait inside billing). Set when the services start; the phase multiplies the 30 ms.
 */
export const BILLING_SPEED = { latencyMs: 30, capacity: 2 };

/** How much slower billing gets: its work time is multiplied by this. */
export const SLOWDOWN_FACTOR = 10;

/** One change of billing's limit made by the adaptive limiter during the phase. */
export type LimitChange = { from: number | null; to: number | null; at: string; evidence: string };

/** What the summary says of the phase (`slowdown` in `--json`). */
export type SlowdownSummary = {
  registrations: number;
  completed: number;
  factor: number;
  durationMs: number;
  /** Billing attempts of the phase's registrations that timed out. */
  billingTimeouts: number;
  /** Billing attempts of the phase's registrations that call billing (free plans do not; fallbacks aside). */
  billingCalls: number;
  /** Calls in flight at most, as billing itself counted them (received, not yet answered). */
  billingMaxInFlight: number;
  /** Duration of those attempts. */
  billingLatencyMs: { p50: number; p95: number };
  /** billing_service's max_concurrent at the start of the phase, and its path after. */
  limitAtStart: number | null;
  limitChanges: LimitChange[];
};

/**
 * Slows billing down, registers `count` users through `register`, waits until they settle
 * (`settle`), and brings billing back to its speed. Returns the phase's ids and its summary.
 */
export async function runSlowdownPhase(input: {
  pool: Pool;
  billing: RunningService;
  count: number;
  register(): Promise<string>;
  settle(ids: string[]): Promise<void>;
  say(line: string): void;
}): Promise<{ ids: string[]; summary: SlowdownSummary }> {
  const { pool, billing, count, say } = input;
  const limitAtStart = await billingLimit(pool);
  billing.admin.setFaults({ slowdown: SLOWDOWN_FACTOR });
  billing.admin.resetPeakInFlight();
  const from = new Date();
  say(`billing is ${SLOWDOWN_FACTOR}x SLOWER (up, answering); registering ${count} more users`);
  const ids: string[] = [];
  try {
    for (let i = 0; i < count; i++) ids.push(await input.register());
    await input.settle(ids);
  } finally {
    billing.admin.setFaults({ slowdown: 1 });
  }
  const to = new Date();
  say('billing is back to its speed');
  const summary = await summarizeSlowdown(pool, ids, { from, to }, billing.admin.inFlight().peak);
  return { ids, summary: { ...summary, limitAtStart } };
}

async function billingLimit(pool: Pool): Promise<number | null> {
  const { rows } = await pool.query(
    `SELECT max_concurrent FROM service_limits WHERE dependent_system = 'billing_service'`,
  );
  return rows[0]?.max_concurrent ?? null;
}

async function summarizeSlowdown(
  pool: Pool,
  ids: string[],
  phase: { from: Date; to: Date },
  billingMaxInFlight: number,
): Promise<Omit<SlowdownSummary, 'limitAtStart'>> {
  const { rows: tasks } = await pool.query(
    `SELECT count(*) FILTER (WHERE status = 'complete')::int AS completed FROM tasks WHERE id = ANY($1)`,
    [ids],
  );
  const { rows: calls } = await pool.query(
    `SELECT count(*)::int AS calls, count(*) FILTER (WHERE a.outcome = 'timeout')::int AS timeouts,
            COALESCE(percentile_disc(0.5) WITHIN GROUP (ORDER BY a.duration_ms), 0)::int AS p50,
            COALESCE(percentile_disc(0.95) WITHIN GROUP (ORDER BY a.duration_ms), 0)::int AS p95
       FROM step_attempts a JOIN tasks t ON t.id = a.task_id
      WHERE a.dependent_system = 'billing_service' AND a.task_id = ANY($1) AND NOT a.fallback
        AND t.context->>'plan' <> 'free'`,
    [ids],
  );
  // `from` is the limit before each change: the previous row of the system, whatever its source.
  const { rows: changes } = await pool.query(
    `SELECT previous AS "from", max_concurrent AS "to", created_at AS at, reason FROM (
       SELECT lag(max_concurrent) OVER (ORDER BY id) AS previous, max_concurrent, created_at, reason, source
         FROM service_limit_changes WHERE dependent_system = 'billing_service') c
      WHERE source = 'adaptive' AND created_at BETWEEN $1 AND $2 ORDER BY at`,
    [phase.from, phase.to],
  );
  return {
    registrations: ids.length,
    completed: tasks[0].completed,
    factor: SLOWDOWN_FACTOR,
    durationMs: phase.to.getTime() - phase.from.getTime(),
    billingTimeouts: calls[0].timeouts,
    billingCalls: calls[0].calls,
    billingMaxInFlight,
    billingLatencyMs: { p50: calls[0].p50, p95: calls[0].p95 },
    limitChanges: changes.map((c) => ({
      from: c.from,
      to: c.to,
      at: new Date(c.at).toISOString(),
      evidence: c.reason,
    })),
  };
}

/** The phase in a few lines of the printed summary. */
export function printSlowdown(s: SlowdownSummary): void {
  const path = [s.limitAtStart, ...s.limitChanges.map((c) => c.to)].map((n) => n ?? 'none').join(' → ');
  console.log(
    `slowdown: billing ${s.factor}x slower for ${s.durationMs} ms; ${s.completed} of ${s.registrations} registrations completed`,
  );
  console.log(
    `  billing calls: ${s.billingCalls}, ${s.billingTimeouts} timed out; at most ${s.billingMaxInFlight} in flight (counted by billing); latency p50 ${s.billingLatencyMs.p50} ms, p95 ${s.billingLatencyMs.p95} ms`,
  );
  console.log(
    `  billing_service max_concurrent: ${path}${s.limitChanges.length === 0 ? ' (unchanged)' : ''}`,
  );
  for (const c of s.limitChanges)
    console.log(`    ${c.at}  ${c.from ?? '-'} → ${c.to ?? '-'}  (${c.evidence})`);
}
