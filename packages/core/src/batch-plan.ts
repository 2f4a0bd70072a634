/**
 * Batch plans: what the handler of a `batchable` step returns, and the cursors of the batches
 * Switchyard creates from it. Pure, so the rules are the same for the worker that records the
 * plan and for the tests.
 */

/**
 * Most batches one task may hold, over all its batchable steps. Creating 10,000 workers is one
 * statement per table and the task page shows them as one node (bench/batch-steps.ts measures
 * both); past that, split the work over several tasks.
 */
export const MAX_BATCHES_PER_TASK = 10_000;

/** A plan as the batchable handler returns it: a range cut into batches, or one cursor per batch. */
export type BatchPlanInput = { total: number; batch_size: number } | { cursors: unknown[] };

/** The cursor of batch `i` of a `{ total, batch_size }` plan: items [start, end). */
export type RangeCursor = { start: number; end: number };

/** What a plan resolves to: one cursor per batch, in batch order (possibly none). */
export type BatchPlanDecision = { ok: true; cursors: unknown[] } | { ok: false; message: string };

/**
 * Resolves a batchable handler's results into cursors. `{ total, batch_size }`: batch i covers
 * [i * batch_size, min(total, (i + 1) * batch_size)); `{ cursors: [...] }`: each element (any
 * JSON) is a batch's cursor. Other keys of the results are kept as the step's results and
 * ignored here. A malformed plan, or one of more than `limit` batches, is refused with a
 * message saying why.
 */
export function planBatches(results: unknown, limit = MAX_BATCHES_PER_TASK): BatchPlanDecision {
  if (typeof results !== 'object' || results === null || Array.isArray(results)) {
    return refuse(`must be an object, { total, batch_size } or { cursors: [...] } (got ${kindOf(results)})`);
  }
  const plan = results as Record<string, unknown>;
  const hasRange = 'total' in plan || 'batch_size' in plan;
  if ('cursors' in plan && hasRange) {
    return refuse('gives both cursors and total/batch_size; return one of the two shapes');
  }
  if ('cursors' in plan) return explicitCursors(plan.cursors, limit);
  if (hasRange) return rangeCursors(plan.total, plan.batch_size, limit);
  return refuse('must be { total, batch_size } or { cursors: [...] } (neither key is present)');
}

function explicitCursors(cursors: unknown, limit: number): BatchPlanDecision {
  if (!Array.isArray(cursors)) return refuse(`cursors must be an array (got ${kindOf(cursors)})`);
  if (cursors.length > limit) return overLimit(cursors.length, limit);
  if (cursors.some((cursor) => cursor === undefined)) return refuse('cursors must be JSON values');
  return { ok: true, cursors };
}

function rangeCursors(total: unknown, batchSize: unknown, limit: number): BatchPlanDecision {
  if (!isCount(total, 0)) return refuse(`total must be an integer >= 0 (got ${JSON.stringify(total)})`);
  if (!isCount(batchSize, 1)) {
    return refuse(`batch_size must be an integer >= 1 (got ${JSON.stringify(batchSize)})`);
  }
  const count = Math.ceil(total / batchSize);
  if (count > limit) return overLimit(count, limit, `total ${total} / batch_size ${batchSize}`);
  const cursors: RangeCursor[] = Array.from({ length: count }, (_, i) => ({
    start: i * batchSize,
    end: Math.min(total, (i + 1) * batchSize),
  }));
  return { ok: true, cursors };
}

function overLimit(count: number, limit: number, from?: string): BatchPlanDecision {
  const source = from ? ` (${from})` : '';
  return refuse(`${count} batches${source} is over the limit of ${limit} batches per task`);
}

function refuse(message: string): BatchPlanDecision {
  return { ok: false, message: `batch plan ${message}` };
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}
