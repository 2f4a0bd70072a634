import type { Queryable } from './pool.ts';

export type WorkerRegistration = {
  id: string;
  hostname: string;
  pid: number;
  handlers: readonly string[];
  concurrency: number;
};

/** Records that a worker is alive and which step types it serves (called on a timer). */
export async function recordWorkerHeartbeat(db: Queryable, worker: WorkerRegistration): Promise<void> {
  await db.query(
    `INSERT INTO workers (id, hostname, pid, handlers, concurrency) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET last_seen_at = clock_timestamp(), handlers = EXCLUDED.handlers,
                                   concurrency = EXCLUDED.concurrency, stopped_at = NULL`,
    [worker.id, worker.hostname, worker.pid, worker.handlers, worker.concurrency],
  );
}

export async function recordWorkerStopped(db: Queryable, workerId: string): Promise<void> {
  await db.query('UPDATE workers SET stopped_at = clock_timestamp() WHERE id = $1', [workerId]);
}

export type UnservedStep = {
  stepId: string;
  taskId: string;
  name: string;
  handler: string;
  enqueuedAt: Date;
};

/**
 * Steps waiting to run whose handler no live worker serves, so they are visible rather than
 * silently stuck. A worker is live when it has beaten within `liveWithinMs`.
 */
export async function findUnservedSteps(db: Queryable, liveWithinMs: number): Promise<UnservedStep[]> {
  const { rows } = await db.query(
    `SELECT s.id AS "stepId", s.task_id AS "taskId", s.name, s.handler, s.enqueued_at AS "enqueuedAt"
       FROM workflow_steps s
      WHERE s.status IN ('enqueued', 'waiting_retry')
        AND NOT EXISTS (
          SELECT 1 FROM workers w
           WHERE w.stopped_at IS NULL AND s.handler = ANY (w.handlers)
             AND w.last_seen_at > clock_timestamp() - $1 * interval '1 millisecond')
      ORDER BY s.enqueued_at NULLS LAST
      LIMIT 1000`,
    [liveWithinMs],
  );
  return rows;
}
