/** The HTTP API as a library: build the server around your own pool, Redis and logger. */

export type { ApiDeps, ApiOptions, EventStreamOptions } from './deps.ts';
export { buildServer } from './server.ts';
