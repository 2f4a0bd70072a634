import type { Queryable } from './pool.ts';

export type AttentionTask = {
  taskId: string;
  namespace: string;
  name: string;
  version: string;
  status: string;
  correlationId: string;
  /** blocked: the task failed; retrying: still running, but a step keeps failing. */
  reason: 'blocked' | 'retrying';
  updatedAt: Date;
  steps: {
    name: string;
    status: string;
    attempts: number;
    maxAttempts: number;
    lastError: unknown;
    /** The step's attempt history, oldest first: why it needs an operator. */
    history: {
      attempt: number;
      outcome: string;
      errorClass: string | null;
      errorCode: string | null;
      message: string | null;
      httpStatus: number | null;
      finishedAt: Date;
    }[];
  }[];
};

/**
 * The dead-letter view: tasks that need an operator. Blocked tasks (status error), and running
 * tasks with a step that has failed at least `minFailures` attempts in a row and is waiting to
 * try again. Each comes with its failing steps' attempt history. Newest first.
 */
export async function findTasksNeedingAttention(
  db: Queryable,
  input: { minFailures?: number; limit?: number } = {},
): Promise<AttentionTask[]> {
  const { rows } = await db.query(
    `SELECT t.id AS "taskId", ns.name AS namespace, nt.name, nt.version, t.status, t.correlation_id AS "correlationId",
            CASE WHEN t.status = 'error' THEN 'blocked' ELSE 'retrying' END AS reason, t.updated_at AS "updatedAt",
            (SELECT json_agg(json_build_object(
                      'name', s.name, 'status', s.status, 'attempts', s.attempts, 'maxAttempts', s.max_attempts,
                      'lastError', s.last_error,
                      'history', (SELECT json_agg(json_build_object(
                                    'attempt', a.attempt, 'outcome', a.outcome, 'errorClass', a.error_class,
                                    'errorCode', a.error_code, 'message', a.error_message, 'httpStatus', a.http_status,
                                    'finishedAt', a.finished_at) ORDER BY a.attempt)
                                    FROM step_attempts a WHERE a.step_id = s.id)) ORDER BY s.name)
               FROM workflow_steps s
              WHERE s.task_id = t.id AND (s.status = 'error' OR (s.status = 'waiting_retry' AND s.attempts >= $1))) AS steps
       FROM tasks t
       JOIN named_tasks nt ON nt.id = t.named_task_id
       JOIN namespaces ns ON ns.id = nt.namespace_id
      WHERE t.status = 'error'
         OR (t.status = 'in_progress' AND EXISTS (
              SELECT 1 FROM workflow_steps s WHERE s.task_id = t.id AND s.status = 'waiting_retry' AND s.attempts >= $1))
      ORDER BY t.updated_at DESC
      LIMIT $2`,
    [input.minFailures ?? 2, input.limit ?? 100],
  );
  return rows.map((row) => ({ ...row, steps: row.steps ?? [] }));
}
