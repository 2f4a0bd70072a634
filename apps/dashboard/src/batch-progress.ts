/**
 * How the DAG draws a batch group: the workers a batch plan created are one node (the template's
 * batch_worker step) with their progress, not thousands of boxes. Pure, so it is tested without
 * a browser.
 */
import type { Step } from '@switchyard/client';

/** The node's state in words: the group's (any failed: error; all complete: complete; else running). */
export function dagStatus(step: Pick<Step, 'status' | 'batch'>): string {
  const batch = step.batch;
  if (!batch) return step.status;
  if (batch.failed > 0) return 'error';
  if (batch.complete === batch.total) return 'complete';
  return batch.inFlight > 0 || batch.complete > 0 ? 'in_progress' : step.status;
}

/** The node's second line: attempts for a step, `n/N batches complete` for a batch group. */
export function dagDetail(step: Pick<Step, 'attempts' | 'maxAttempts' | 'batch'>): string {
  const batch = step.batch;
  if (!batch) return `${step.attempts}/${step.maxAttempts}`;
  const failed = batch.failed > 0 ? `, ${batch.failed} failed` : '';
  return `${batch.complete}/${batch.total} batches${failed}`;
}
