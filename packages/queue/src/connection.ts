import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

export type { RedisOptions };

/**
 * What the queues, the cancellation channel and the scheduler run on: one Redis server (a
 * primary, managed or not) or a Redis Cluster. BullMQ and everything in this repository accept
 * either.
 */
export type RedisConnection = Redis | Cluster;

/**
 * A Redis connection suitable for BullMQ. `maxRetriesPerRequest: null` is what BullMQ requires
 * for blocking connections; commands wait for a reconnect instead of failing, so a Redis
 * restart stalls dispatch rather than losing it. The URL carries credentials and TLS
 * (`rediss://user:password@host:port/db`) and is read by ioredis as it is.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}

/**
 * A Redis Cluster connection suitable for BullMQ. `seedUrl` names one node of the cluster, or a
 * managed cluster's configuration endpoint: the client reads the slot map from it and connects
 * to the other nodes itself. Its user, password and scheme (`rediss://` for TLS) apply to every
 * node. A cluster has only database 0, so a URL naming another is refused.
 *
 * Every key that one command or script touches must be in one hash slot: give the queues a
 * prefix with a hash tag (`{switchyard}`), see {@link hasHashTag}.
 */
export function createRedisClusterConnection(seedUrl: string, options: ClusterOptions = {}): Cluster {
  const { seed, redisOptions } = clusterSeed(seedUrl);
  return new Cluster([seed], {
    ...options,
    // Node hostnames are kept as given instead of being resolved to addresses first: a TLS
    // certificate names the host, and managed clusters (ElastiCache, Memorystore) require it.
    dnsLookup: (address, callback) => callback(null, address),
    redisOptions: {
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      ...redisOptions,
      ...options.redisOptions,
    },
  });
}

/**
 * One Redis server, or a cluster when `cluster` is true (see REDIS_CLUSTER in @switchyard/config).
 * `options` add to the client's (on a cluster, to every node's; `enableOfflineQueue` to the
 * cluster's own as well), e.g. {@link failFastRedisOptions}.
 */
export function connectRedis(
  settings: { url: string; cluster: boolean },
  options: RedisOptions = {},
): RedisConnection {
  if (!settings.cluster) return createRedisConnection(settings.url, options);
  const { enableOfflineQueue } = options;
  return createRedisClusterConnection(settings.url, {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    redisOptions: options,
  });
}

/**
 * Options for a connection that serves requests (the API) rather than blocking consumers: while
 * Redis is unreachable a command fails at once (no offline queue, no resend after a reconnect)
 * instead of waiting for Redis to come back, and a connect or a command that gets no answer
 * (a host that drops packets) fails after `timeoutMs`. BullMQ accepts this for its producers
 * (`Queue`), not for workers, which need `maxRetriesPerRequest: null`.
 */
export function failFastRedisOptions(timeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  };
}

/** The seed node and per-node options (credentials, TLS) of a cluster URL. */
export function clusterSeed(seedUrl: string): {
  seed: { host: string; port: number };
  redisOptions: Pick<RedisOptions, 'username' | 'password' | 'tls'>;
} {
  const url = new URL(seedUrl);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`a Redis Cluster URL must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && db !== '0') {
    throw new Error(`Redis Cluster has only database 0; the URL names database ${db}`);
  }
  return {
    seed: { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : 6379 },
    redisOptions: {
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

/** True for a cluster connection. */
export function isCluster(connection: RedisConnection): connection is Cluster {
  return connection instanceof Cluster;
}

/**
 * Whether every key starting with `prefix` hashes to one slot: Redis Cluster hashes only the
 * text between the first `{` and the next `}` when that text is not empty.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open === -1) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * Refuses a cluster connection with a prefix whose keys would spread over slots: BullMQ's
 * scripts touch several keys of one queue at once and Redis Cluster rejects them (CROSSSLOT).
 */
export function assertQueuePrefixFits(connection: RedisConnection, prefix: string): void {
  if (isCluster(connection) && !hasHashTag(prefix)) {
    throw new Error(
      `queue prefix "${prefix}" has no hash tag: on Redis Cluster use one such as "{${prefix}}" so that every key of a queue is in one slot`,
    );
  }
}
