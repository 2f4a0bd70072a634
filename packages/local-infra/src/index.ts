/**
 * Local development only: find the Postgres and Redis that `switchyard dev` and the demo need,
 * or start them on this machine (an embedded PostgreSQL, a `redis-server` from PATH) when the
 * configured URLs point here and nothing answers.
 */
export { LocalInfraError } from './errors.ts';
export { type EnsureLocalPostgresOptions, ensureLocalPostgres, type LocalPostgres } from './postgres.ts';
export { type EnsureLocalRedisOptions, ensureLocalRedis, type LocalRedis } from './redis.ts';
