import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection suitable for BullMQ. `maxRetriesPerRequest: null` is what BullMQ requires
 * for blocking connections; commands wait for a reconnect instead of failing, so a Redis
 * restart stalls dispatch rather than losing it.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}
