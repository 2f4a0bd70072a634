export {
  EnvConfigError,
  type EnvIntOptions,
  type EnvProblem,
  envBoolean,
  envInt,
  envList,
  envNamespaceWeights,
  envOptionalUrl,
  envUrl,
  parseEnv,
  parseEnvOrExit,
} from './env.ts';
export { commonEnvProblems, prefixHasHashTag } from './rules.ts';
export {
  type ApiEnvSettings,
  apiEnvShape,
  type CommonEnv,
  commonEnvShape,
  type SchedulerEnvSettings,
  schedulerEnvShape,
  type WorkerEnvSettings,
  workerEnvShape,
} from './shapes.ts';
