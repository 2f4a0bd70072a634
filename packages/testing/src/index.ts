/**
 * Test isolation on real Postgres and Redis: a database cloned from a migrated template and a
 * BullMQ prefix per test file, and a private redis-server for tests that crash Redis.
 */
export { createTestDatabase, type TestDatabase } from './database.ts';
export { createTestRedis, deleteKeys, type TestRedis } from './redis.ts';
export { startRedisServer, type TestRedisServer } from './redis-server.ts';
