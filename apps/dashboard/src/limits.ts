import type { ServiceLimit } from '@switchyard/client';

/** A limit's cells as the breaker page shows them: `-` where the system is not limited. */
export function limitCells(limit: ServiceLimit): {
  maxConcurrent: string;
  rate: string;
  inFlight: string;
  waiting: string;
  override: string;
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
  };
}
