export {
  type AdaptiveCandidate,
  lockAdaptiveLimitsDue,
  readAdaptiveWindow,
  recordAdaptiveDecision,
} from './adaptive-limits.ts';
export {
  API_KEY_SCOPES,
  type ApiKeyScope,
  type ApiKeyView,
  authenticateApiKey,
  createApiKey,
  listApiKeys,
  revokeApiKey,
} from './api-keys.ts';
export {
  type BatchCheckpoint,
  type BatchCreation,
  recordBatchableSuccess,
  recordBatchCheckpoint,
} from './batch-steps.ts';
export { type BatchWorkerPage, type BatchWorkerView, listBatchWorkers } from './batch-views.ts';
export { forceBreaker } from './breaker-overrides.ts';
export {
  type BreakerKind,
  type BreakerTransition,
  breakerSystems,
  configureBreaker,
  evaluateBreaker,
} from './breaker-state.ts';
export { listBreakers } from './breaker-views.ts';
export { findTasksNeedingAttention } from './dead-letters.ts';
export { recordDecisionSuccess } from './decision-outcome.ts';
export { eventLogHorizon, readEvents, type StoredEvent } from './events.ts';
export {
  countPendingDeliveries,
  type DeliveryAttemptEntry,
  type HistoryRead,
  type PendingDeliveryCounts,
  readBreakerStates,
  readDeliveryAttempts,
  readFinishedAttempts,
  readStepClaims,
  readTaskTransitions,
} from './fleet-metrics.ts';
export {
  claimLimitedStepAttempts,
  hasLimitWaiters,
  type LimitedClaim,
  type ReleasedStep,
  releaseLimitWaiters,
  releaseLimitWaitersToFallback,
  systemsWithLimitWaiters,
} from './limit-claims.ts';
export { applyMigrations, ensureDatabase, listMigrations, pendingMigrations } from './migrator.ts';
export { type OperatorStepResult, resolveStepManually, retryFailedStep } from './operator-steps.ts';
export {
  countOpenStepsByType,
  type LiveWorkerView,
  listBreakerTransitions,
  listHeldSteps,
  listLiveWorkers,
  listStepTypes,
} from './operator-views.ts';
export { createPool, type Pool, type PoolClient, type PoolOptions, type Queryable } from './pool.ts';
export type { ReadyStep } from './ready-children.ts';
export {
  type DispatchCursor,
  expireLeases,
  finalizeSettledTasks,
  findDispatchCandidates,
  type SettledTaskCursor,
  stillAwaitingDispatch,
} from './repairs.ts';
export { pruneFinishedTasks, type RetentionOptions } from './retention.ts';
export {
  advanceSchedule,
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  listScheduleTicks,
  lockDueSchedules,
  type NewSchedule,
  recordScheduleTick,
  runningScheduleTasks,
  type ScheduleRow,
  type ScheduleTickOutcome,
  type ScheduleTickRow,
  type ScheduleView,
  setSchedulePaused,
} from './schedules.ts';
export {
  configureServiceLimits,
  listServiceLimitChanges,
  listServiceLimits,
  overrideServiceLimit,
  type ServiceLimitChange,
  type ServiceLimitView,
} from './service-limits.ts';
export {
  type ClaimedBatch,
  type ClaimedStep,
  type ClaimMiss,
  type ClaimRequest,
  claimStepAttempts,
  explainClaimMiss,
  renewStepLease,
} from './step-attempts.ts';
export { holdBlockedStep, releaseHeldForBreaker } from './step-holds.ts';
export {
  type AttemptFailure,
  type AttemptRecord,
  type ChildClaimRoom,
  type EventToCommit,
  type FailureEvents,
  type OutcomeResult,
  recordStepFailure,
  recordStepSuccesses,
  type StepSuccess,
} from './step-outcomes.ts';
export { type CancelledTask, cancelTask, releaseStepClaim } from './task-operations.ts';
export {
  type AttemptView,
  type BatchGroupSummary,
  countTasksByStatus,
  getTaskDetail,
  getTaskDetails,
  listStepAttempts,
  listTaskAttempts,
  listTasks,
  listTaskTransitions,
  listTemplateVersions,
  type TaskDetail,
  type TaskPage,
  type TaskSummary,
  type TemplateVersionView,
  taskNamespace,
} from './task-queries.ts';
export { type InsertedTask, insertTask, insertTasks, type NewTask, type TaskRow } from './tasks.ts';
export {
  findTemplate,
  findTemplates,
  findTriggeredTemplates,
  listTemplateRefs,
  registerTemplate,
  type StoredTemplate,
  type TemplateRef,
} from './templates.ts';
export {
  isDatabaseUnavailable,
  isRetriableDbError,
  mayHaveTakenEffect,
  withRetries,
  withStatement,
  withTransaction,
} from './transaction.ts';
export {
  type ClaimedDelivery,
  claimWebhookDeliveries,
  type DeliveryAttemptOutcome,
  type DeliveryAttemptRecord,
  failOrphanedDelivery,
  fanOutEvents,
  holdWebhookDelivery,
  recordWebhookDeliveryAttempt,
  releaseHeldDeliveries,
} from './webhook-deliveries.ts';
export { createWebhook, deleteWebhook, getWebhook, listWebhookDeliveries, listWebhooks } from './webhooks.ts';
export { findUnservedSteps, recordWorkerHeartbeat, recordWorkerStopped } from './workers.ts';
