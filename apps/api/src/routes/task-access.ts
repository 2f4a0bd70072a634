/**
 * What every task route checks before it answers: the task exists and the caller's key may
 * touch its namespace, and the task as responses show it (secrets redacted).
 */
import { NotFoundError } from '@switchyard/core';
import { getTaskDetail, type TaskDetail, taskNamespace } from '@switchyard/db';
import { z } from 'zod';
import { mayTouch, type Principal } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { redactTask } from '../redact.ts';

export const TaskParams = z.strictObject({ id: z.uuid() });
export const StepParams = z.strictObject({ id: z.uuid(), step: z.string().min(1).max(100) });

/**
 * Loads a task the caller may see, or throws NotFoundError. A task in a namespace the key may
 * not touch is answered exactly like an unknown id, so a key cannot learn that it exists or
 * where it lives.
 */
export async function visibleTask(deps: ApiDeps, principal: Principal, id: string): Promise<TaskDetail> {
  const task = await getTaskDetail(deps.pool, id);
  if (!task || !mayTouch(principal, task.namespace)) throw new NotFoundError(`task ${id} does not exist`);
  return task;
}

/** A task as every response shows it: secrets in its context, results and errors redacted. */
export async function shownTask(deps: ApiDeps, id: string): Promise<TaskDetail | null> {
  const task = await getTaskDetail(deps.pool, id);
  return task && redactTask(task);
}

/**
 * Checks the task exists and the caller may touch its namespace, before an operation; either
 * failure is the same 404 (see visibleTask).
 */
export async function assertTaskAccess(deps: ApiDeps, principal: Principal, id: string): Promise<void> {
  const namespace = await taskNamespace(deps.pool, id);
  if (!namespace || !mayTouch(principal, namespace)) throw new NotFoundError(`task ${id} does not exist`);
}
