/**
 * Test isolation on real Postgres and Redis: a database cloned from a migrated template and a
 * BullMQ prefix per test file, and a private redis-server (or Redis Cluster) for tests that
 * crash Redis or need a cluster; a real HTTP receiver of webhooks; waiting on a condition.
 */
export { createTestDatabase, type TestDatabase } from './database.ts';
export { createTestRedis, createTestRedisOnCluster, deleteKeys, type TestRedis } from './redis.ts';
export { startRedisCluster, type TestRedisCluster, type TestRedisClusterOptions } from './redis-cluster.ts';
export { freePort, startRedisServer, type TestRedisServer } from './redis-server.ts';
export { startTlsRedisServer, type TestTlsRedisServer } from './redis-tls.ts';
export { waitFor } from './wait-for.ts';
export {
  expectedWebhookSignature,
  type ReceivedWebhook,
  startWebhookReceiver,
  type TestWebhookReceiver,
  type TestWebhookReceiverOptions,
} from './webhook-receiver.ts';
