import type { LimitOverrideBody, ServiceLimit, ServiceLimitDetail } from '@switchyard/client';

/** A limit's cells as the breaker page shows them: `-` where the system is not limited. */
export function limitCells(limit: ServiceLimit): {
  maxConcurrent: string;
  rate: string;
  inFlight: string;
  waiting: string;
  override: string;
  adaptive: string;
} {
  const { maxConcurrent, rate, burst } = limit.limit;
  const waiting = limit.waiting.concurrency + limit.waiting.rate;
  const reasons = [
    limit.waiting.concurrency > 0 ? `${limit.waiting.concurrency} concurrency` : null,
    limit.waiting.rate > 0 ? `${limit.waiting.rate} rate` : null,
  ].filter(Boolean);
  return {
    maxConcurrent: maxConcurrent === null ? '-' : String(maxConcurrent),
    rate: rate === null ? '-' : `${rate}/s (burst ${burst})`,
    inFlight: maxConcurrent === null ? String(limit.inFlight) : `${limit.inFlight} of ${maxConcurrent}`,
    waiting: waiting === 0 ? '0' : `${waiting} (${reasons.join(', ')})`,
    override: limit.override ? `${limit.override.reason} (${limit.override.actor})` : '-',
    adaptive: adaptiveCell(limit.adaptive),
  };
}

/** The adaptive limiter in one cell: its bounds, the baseline it measures against, or paused. */
function adaptiveCell(adaptive: ServiceLimit['adaptive']): string {
  if (!adaptive) return '-';
  const bounds = `${adaptive.min}–${adaptive.max}`;
  if (adaptive.paused) return `${bounds}, paused by the override`;
  const baseline =
    adaptive.baselineLatencyMs === null ? 'no baseline yet' : `baseline ${adaptive.baselineLatencyMs} ms`;
  return `${bounds}, ${baseline}`;
}

/** One row of a limit's history: when, who (configuration, operator, adaptive), the path, and why. */
export function changeRow(change: ServiceLimitDetail['changes'][number]): {
  at: string;
  source: string;
  limit: string;
  reason: string;
  evidence: string;
} {
  const e = change.evidence;
  return {
    at: change.at,
    source: change.source === 'operator' ? `operator (${change.actor})` : change.source,
    limit: change.limit.maxConcurrent === null ? '-' : String(change.limit.maxConcurrent),
    reason: change.reason,
    evidence: e
      ? `${e.calls} calls in ${e.windowMs / 1000} s: ${e.timeouts} timed out, ${e.overloadErrors} overloaded, p50 ${e.p50Ms ?? '-'} ms (baseline ${e.baselineMs === null ? '-' : Math.round(e.baselineMs)} ms), ${e.inFlight} in flight${e.waiting ? ', steps waiting' : ''}`
      : '-',
  };
}

/** The override form's fields as typed: numbers stay text until sent. */
export type LimitDraft = {
  system: string;
  maxConcurrent: string;
  rate: string;
  burst: string;
  reason: string;
};

/** A draft for `system`, its fields filled from the limit in force (blank where not limited). */
export function draftFor(system: string, current: ServiceLimit | undefined): LimitDraft {
  const text = (value: number | null | undefined) =>
    value === null || value === undefined ? '' : String(value);
  return {
    system,
    maxConcurrent: text(current?.limit.maxConcurrent),
    rate: text(current?.limit.rate),
    burst: text(current?.limit.burst),
    reason: '',
  };
}

/**
 * The body of POST /v1/limits/{system}/override from a draft: a blank field is null (that
 * dimension is not limited). Values are sent as typed, so that the API, which owns the rules,
 * judges them and names the field it refuses.
 */
export function overrideBody(draft: LimitDraft): LimitOverrideBody {
  const number = (value: string) => (value.trim() === '' ? null : Number(value));
  return {
    maxConcurrent: number(draft.maxConcurrent),
    rate: number(draft.rate),
    burst: number(draft.burst),
    reason: draft.reason.trim(),
  };
}

/** What an override or reset put in force, in one line for the form's status. */
export function describeLimit(limit: ServiceLimit): string {
  const cells = limitCells(limit);
  return `${limit.dependentSystem}: max concurrent ${cells.maxConcurrent}, rate ${cells.rate}`;
}
