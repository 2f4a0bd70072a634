/**
 * The workers of a batch group, page by page: the task detail shows a group as one step with a
 * summary (task-queries.ts), and operators read its workers from here. Reads only; no locks.
 */
import type { Queryable } from './pool.ts';

/** One batch worker as an operator sees it. */
export type BatchWorkerView = {
  id: string;
  name: string;
  index: number;
  status: string;
  attempts: number;
  cursor: unknown;
  /** The last checkpoint: { cursor, partial, attempt, at }, or null. */
  checkpoint: unknown;
  results: unknown;
  lastError: unknown;
  startedAt: Date | null;
  completedAt: Date | null;
};

/** A page of workers, in batch order; `nextAfter` is the index to pass for the next page, or null. */
export type BatchWorkerPage = { workers: BatchWorkerView[]; nextAfter: number | null };

/**
 * The workers of the batch group of `stepName` (the template's batch_worker step) after batch
 * index `after` (-1 for the first page), at most `limit`, optionally of one status. Null when the
 * task has no such batch group. Served by the (batch_of, batch_index) index, however many workers.
 */
export async function listBatchWorkers(
  db: Queryable,
  taskId: string,
  stepName: string,
  page: { after: number; limit: number; status?: string },
): Promise<BatchWorkerPage | null> {
  const group = await db.query(
    'SELECT id FROM workflow_steps WHERE task_id = $1 AND name = $2 AND batch_of = id',
    [taskId, stepName],
  );
  if (!group.rows[0]) return null;
  const { rows } = await db.query(
    `SELECT id, name, batch_index AS index, status, attempts, batch_cursor AS cursor, batch_checkpoint AS checkpoint,
            results, last_error AS "lastError", started_at AS "startedAt", completed_at AS "completedAt"
       FROM workflow_steps
      WHERE batch_of = $1 AND batch_index > $2 AND ($3::text IS NULL OR status = $3)
      ORDER BY batch_index LIMIT $4`,
    [group.rows[0].id, page.after, page.status ?? null, page.limit + 1],
  );
  const workers = rows.slice(0, page.limit) as BatchWorkerView[];
  const nextAfter = rows.length > page.limit ? (workers.at(-1)?.index ?? null) : null;
  return { workers, nextAfter };
}
