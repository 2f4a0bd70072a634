export { cancelTask } from './cancel-task.ts';
export {
  type CreatedTask,
  type CreateTaskOptions,
  type CreateTaskRequest,
  CreateTaskRequestSchema,
  createTask,
} from './create-task.ts';
export { releaseWaitersOf } from './limit-sweep.ts';
export { loadHandlerModules, loadTemplateFiles } from './load-modules.ts';
export { type OperatorDeps, type OperatorRequest, resolveStep, retryStep } from './operator-steps.ts';
export {
  type ConnectOptions,
  connect,
  type Infrastructure,
  runUntilSignal,
  startSchedulerRole,
  startWorkerRole,
  WORKER_CONNECTIONS,
} from './roles.ts';
export { ClaimLostError, WorkerShutdownError } from './run-handler.ts';
export { type RepairKind, type RunningScheduler, startScheduler } from './scheduler.ts';
export {
  type CompiledSchedulerOptions,
  compileSchedulerOptions,
  SCHEDULER_DEFAULTS,
  type SchedulerOptions,
} from './scheduler-options.ts';
export {
  type CreateScheduleRequest,
  CreateScheduleRequestSchema,
  createSchedule,
  deleteSchedule,
  pauseSchedule,
  resumeSchedule,
} from './schedules.ts';
export { type IncomingEvent, startTasksForEvent } from './start-by-event.ts';
export { registerTemplates } from './templates.ts';
export {
  type RunningWebhookDelivery,
  startWebhookDelivery,
  type WebhookDeliveryOptions,
  withWebhookDelivery,
} from './webhook-delivery.ts';
export { type RunningWorker, startWorker } from './worker.ts';
export { type CompiledWorkerOptions, compileWorkerOptions, type WorkerOptions } from './worker-options.ts';
