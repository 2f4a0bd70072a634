import type { Pool } from '@switchyard/db';
import { printSlowdown, type SlowdownSummary } from './slowdown.ts';
import type { WebhookSummary } from './webhook-receiver.ts';

/** What the demo prints at the end (and as one JSON object with --json). */
export type DemoSummary = {
  total: number;
  completed: number;
  failed: number;
  billingDownMs: number;
  /** Attempts that reached the billing service while it was down (each one a refused connection). */
  billingCallsWhileDown: number;
  breakerTransitions: { system: string; from: string | null; to: string; at: string; reason: string }[];
  latencyMs: { p50: number; p95: number; p99: number };
  elapsedMs: number;
  /**
   * What choose_plan_features decided, read from the registrations' provision_sso steps:
   * completed (enterprise plans) or skipped (the others).
   */
  decisions: { provisioned_sso: number; skipped: number };
  /** The phase where billing is slower instead of down (slowdown.ts). */
  slowdown: SlowdownSummary;
  /** The demo's own receiver of task.completed webhooks. */
  webhooks: WebhookSummary;
};

export async function summarize(
  pool: Pool,
  ids: string[],
  outage: { from: Date; to: Date },
  since: Date,
  elapsedMs: number,
): Promise<Omit<DemoSummary, 'webhooks' | 'slowdown'>> {
  const { rows: statuses } = await pool.query(
    `SELECT count(*) FILTER (WHERE status = 'complete')::int AS completed,
            count(*) FILTER (WHERE status IN ('error', 'cancelled'))::int AS failed FROM tasks WHERE id = ANY($1)`,
    [ids],
  );
  const { rows: calls } = await pool.query(
    `SELECT count(*)::int AS n FROM step_attempts
      WHERE dependent_system = 'billing_service' AND task_id = ANY($1) AND finished_at BETWEEN $2 AND $3
        AND outcome IN ('retryable_error', 'timeout')`,
    [ids, outage.from, outage.to],
  );
  const { rows: transitions } = await pool.query(
    `SELECT dependent_system AS system, from_state AS "from", to_state AS "to", created_at AS at, reason
       FROM breaker_transitions WHERE created_at >= $1 ORDER BY id`,
    [since],
  );
  const { rows: latencies } = await pool.query(
    `SELECT extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM tasks
      WHERE id = ANY($1) AND status = 'complete' ORDER BY 1`,
    [ids],
  );
  const { rows: sso } = await pool.query(
    `SELECT count(*) FILTER (WHERE status = 'complete')::int AS provisioned_sso,
            count(*) FILTER (WHERE status = 'skipped')::int AS skipped
       FROM workflow_steps WHERE task_id = ANY($1) AND name = 'provision_sso'`,
    [ids],
  );
  const ms = latencies.map((r) => Math.round(Number(r.ms)));
  const pick = (p: number) =>
    ms[Math.min(ms.length - 1, Math.max(0, Math.ceil((p / 100) * ms.length) - 1))] ?? 0;
  return {
    total: ids.length,
    completed: statuses[0].completed,
    failed: statuses[0].failed,
    billingDownMs: outage.to.getTime() - outage.from.getTime(),
    billingCallsWhileDown: calls[0].n,
    breakerTransitions: transitions.map((t) => ({ ...t, at: new Date(t.at).toISOString() })),
    latencyMs: { p50: pick(50), p95: pick(95), p99: pick(99) },
    elapsedMs,
    decisions: { provisioned_sso: sso[0].provisioned_sso, skipped: sso[0].skipped },
  };
}

export function printSummary(summary: DemoSummary): void {
  const { total, completed, failed, billingDownMs, billingCallsWhileDown, latencyMs } = summary;
  console.log(
    `\n${completed === total ? 'all' : 'NOT all'} ${total} registrations completed (${completed} complete, ${failed} failed) in ${summary.elapsedMs} ms`,
  );
  console.log(
    `billing was down for ${billingDownMs} ms and received ${billingCallsWhileDown} calls meanwhile`,
  );
  console.log('breaker transitions:');
  for (const t of summary.breakerTransitions)
    console.log(`  ${t.at}  ${t.system}  ${t.from ?? '-'} → ${t.to}  (${t.reason})`);
  console.log(
    `registration latency: p50 ${latencyMs.p50} ms, p95 ${latencyMs.p95} ms, p99 ${latencyMs.p99} ms`,
  );
  const { provisioned_sso, skipped } = summary.decisions;
  console.log(
    `plan decisions: provision_sso ran for ${provisioned_sso} registrations (enterprise) and was skipped for ${skipped}`,
  );
  printSlowdown(summary.slowdown);
  const { received, verified, missing } = summary.webhooks;
  console.log(
    `webhooks: ${received} task.completed deliveries received, ${verified} with a valid signature, ${missing} completed registrations announced by none`,
  );
}
