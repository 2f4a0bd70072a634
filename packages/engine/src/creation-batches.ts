/**
 * The statements of task creation, shared by the creates of one process: the template lookups
 * and the inserts of concurrent creates go to Postgres together (see {@link StatementBatcher}),
 * one batcher of each per pool, whoever creates (the API, event starts, the bench).
 */
import {
  findTemplates,
  type InsertedTask,
  insertTasks,
  type NewTask,
  type Pool,
  type StoredTemplate,
  type TemplateRef,
  withRetries,
  withStatement,
} from '@switchyard/db';
import { StatementBatcher } from './statement-batcher.ts';

type Batchers = {
  lookups: StatementBatcher<TemplateRef, StoredTemplate | null>;
  inserts: StatementBatcher<NewTask, InsertedTask>;
};

const batchers = new WeakMap<Pool, Batchers>();

function batchersOf(pool: Pool): Batchers {
  let found = batchers.get(pool);
  if (!found) {
    found = {
      lookups: new StatementBatcher((refs: TemplateRef[]) => findTemplates(pool, refs)),
      // The identity hash makes a retry after a lost commit return the task it made.
      inserts: new StatementBatcher((tasks: NewTask[]) =>
        withRetries(() => withStatement(pool, (client) => insertTasks(client, tasks))),
      ),
    };
    batchers.set(pool, found);
  }
  return found;
}

/** The template a create names (the latest version when it names none), or null. */
export function lookUpTemplate(pool: Pool, ref: TemplateRef): Promise<StoredTemplate | null> {
  return batchersOf(pool).lookups.submit(ref);
}

/**
 * Inserts a task with the creates batched beside it: committed when this resolves, answered as
 * if the creates had been inserted one after the other in arrival order (see insertTasks).
 */
export function insertTaskBatched(pool: Pool, task: NewTask): Promise<InsertedTask> {
  return batchersOf(pool).inserts.submit(task);
}

/** Creates on this pool waiting for the next creation statement (while one runs). */
export function creationsWaiting(pool: Pool): number {
  return batchers.get(pool)?.inserts.waiting ?? 0;
}
