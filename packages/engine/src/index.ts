export { type CreatedTask, type CreateTaskRequest, CreateTaskRequestSchema, createTask } from './create-task.ts';
export { ClaimLostError, WorkerShutdownError } from './run-handler.ts';
export { loadHandlerModules, loadTemplateFiles } from './load-modules.ts';
export { registerTemplates } from './templates.ts';
export { type RunningWorker, startWorker } from './worker.ts';
export { type CompiledWorkerOptions, compileWorkerOptions, type WorkerOptions } from './worker-options.ts';
export { type RepairKind, type RunningScheduler, type SchedulerOptions, startScheduler } from './scheduler.ts';
export { cancelTask } from './cancel-task.ts';
