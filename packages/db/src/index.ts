export {
  API_KEY_SCOPES,
  type ApiKeyScope,
  type ApiKeyView,
  authenticateApiKey,
  createApiKey,
  hashApiKey,
  listApiKeys,
  revokeApiKey,
} from './api-keys.ts';
export {
  BLOCKED_BY_BREAKER,
  type BreakerTransition,
  type BreakerView,
  breakerSystems,
  configureBreaker,
  evaluateBreaker,
  forceBreaker,
  holdBlockedStep,
  holdServiceUntil,
  listBreakers,
  releaseHeldForBreaker,
  releaseHeldSteps,
} from './breakers.ts';
export { type AttentionTask, findTasksNeedingAttention } from './dead-letters.ts';
export {
  applyMigrations,
  DEFAULT_MIGRATIONS_DIR,
  ensureDatabase,
  listMigrations,
  MIGRATION_LOCK_KEY,
  type MigrateOptions,
  type Migration,
  MigrationError,
  type MigrationLogger,
  type MigrationTarget,
  pendingMigrations,
} from './migrator.ts';
export { type OperatorStepResult, resolveStepManually, retryFailedStep } from './operator-steps.ts';
export {
  type BreakerTransitionView,
  countOpenStepsByType,
  type HeldStepView,
  type LiveWorkerView,
  listBreakerTransitions,
  listHeldSteps,
  listLiveWorkers,
  listStepTypes,
} from './operator-views.ts';
export { createPool, type Pool, type PoolClient, type PoolOptions, type Queryable } from './pool.ts';
export {
  type DispatchCandidate,
  type DispatchCursor,
  type ExpiredLease,
  expireLeases,
  finalizeSettledTasks,
  findDispatchCandidates,
  stillAwaitingDispatch,
} from './repairs.ts';
export { pruneFinishedTasks, type RetentionOptions, type RetentionResult } from './retention.ts';
export {
  type ClaimedStep,
  type ClaimMiss,
  type ClaimRequest,
  claimStepAttempt,
  claimStepAttempts,
  explainClaimMiss,
  type ReadyStep,
  renewStepLease,
} from './step-attempts.ts';
export {
  type AttemptFailure,
  type AttemptRecord,
  type OutcomeResult,
  recordStepFailure,
  recordStepSuccess,
  recordStepSuccesses,
  type StepSuccess,
} from './step-outcomes.ts';
export { finalizeTaskIfDone, type TaskFinalization } from './task-finalization.ts';
export { type CancelledTask, cancelTask, releaseStepClaim } from './task-operations.ts';
export {
  type AttemptView,
  countTasksByStatus,
  getTaskDetail,
  listStepAttempts,
  listTaskAttempts,
  listTasks,
  listTaskTransitions,
  listTemplateVersions,
  type StepDetail,
  type TaskAttemptView,
  type TaskCursor,
  type TaskDetail,
  type TaskFilter,
  type TaskPage,
  type TaskStatusCounts,
  type TaskSummary,
  type TemplateVersionView,
  type TransitionView,
  taskNamespace,
} from './task-queries.ts';
export { findTask, insertTask, type NewTask, type TaskRow } from './tasks.ts';
export { findTemplate, listTemplateRefs, registerTemplate, type StoredTemplate } from './templates.ts';
export {
  isDatabaseUnavailable,
  isRetriableDbError,
  mayHaveTakenEffect,
  type TransactionOptions,
  withRetries,
  withStatement,
  withTransaction,
} from './transaction.ts';
export {
  findUnservedSteps,
  recordWorkerHeartbeat,
  recordWorkerStopped,
  type UnservedStep,
  type WorkerRegistration,
} from './workers.ts';
