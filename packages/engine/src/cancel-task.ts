import { toError } from '@switchyard/core';
import { type CancelledTask, cancelTask as cancelTaskRows, type Pool, withTransaction } from '@switchyard/db';
import { cancellationChannel, type RedisConnection } from '@switchyard/queue';
import type { Logger } from 'pino';

/**
 * Cancels a task (see cancelTask in @switchyard/db) and announces it so workers abort its
 * running handlers now; if the announcement is lost, they abort at their next lease renewal.
 * @throws NotFoundError, ConflictError (the task is complete or already cancelled)
 */
export async function cancelTask(
  deps: { pool: Pool; redis: RedisConnection; queuePrefix?: string; logger?: Logger },
  taskId: string,
  options: { actor: string; reason?: string },
): Promise<CancelledTask> {
  const cancelled = await withTransaction(deps.pool, (client) =>
    cancelTaskRows(client, { taskId, actor: options.actor, reason: options.reason ?? null }),
  );
  if (cancelled.steps.some((step) => step.from === 'in_progress')) {
    await deps.redis
      .publish(cancellationChannel(deps.queuePrefix), JSON.stringify({ taskId }))
      .catch((err) =>
        deps.logger?.warn({ err: toError(err), task_id: taskId }, 'could not announce cancellation'),
      );
  }
  deps.logger?.info(
    { task_id: taskId, from: cancelled.from, steps: cancelled.steps.length },
    'task cancelled',
  );
  return cancelled;
}
