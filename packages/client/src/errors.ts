import type { Problem, Task } from './contract.ts';

/**
 * The API answered with an error. `problem` is the RFC 9457 body (`problem.errors` lists the
 * failing fields of a validation error); `code` is stable and safe to branch on.
 */
export class SwitchyardApiError extends Error {
  override name = 'SwitchyardApiError';
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;

  constructor(problem: Problem, options?: ErrorOptions) {
    super(`${problem.title}: ${problem.detail}`, options);
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
  }
}

/** The API could not be reached, or kept failing (5xx) through every retry. */
export class SwitchyardNetworkError extends Error {
  override name = 'SwitchyardNetworkError';
}

/** `waitForTask` gave up; `task` is the last state seen. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
  readonly task: Task;

  constructor(task: Task, timeoutMs: number) {
    super(`task ${task.id} still ${task.status} after ${timeoutMs} ms`);
    this.task = task;
  }
}
