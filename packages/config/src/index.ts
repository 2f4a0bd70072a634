export {
  EnvConfigError,
  type EnvIntOptions,
  type EnvProblem,
  envBoolean,
  envInt,
  envList,
  envUrl,
  parseEnv,
  parseEnvOrExit,
} from './env.ts';
export { commonEnvShape, schedulerEnvShape, workerEnvShape } from './shapes.ts';
