export {
  assertQueuePrefixFits,
  clusterSeed,
  connectRedis,
  createRedisClusterConnection,
  createRedisConnection,
  failFastRedisOptions,
  hasHashTag,
  isCluster,
  type RedisConnection,
  type RedisOptions,
} from './connection.ts';
export {
  DELIVERY_LOCK_MS,
  DelayedError,
  type Job,
  QueueEvents,
  STALLED_CHECK_MS,
  StepConsumer,
  type StepConsumerOptions,
} from './consumer.ts';
export { StepDispatcher, type StepDispatcherOptions } from './dispatcher.ts';
export {
  fairCountsKey,
  fairPriority,
  MAX_BULLMQ_PRIORITY,
  PRIORITY_SPAN,
  weightOf,
} from './fair-priority.ts';
export {
  cancellationChannel,
  DEFAULT_QUEUE_PREFIX,
  queueNameForHandler,
  readyJobsKey,
  stepJobId,
} from './names.ts';
export { isStepJobPayload, type StepDispatch, type StepJobPayload } from './payload.ts';
