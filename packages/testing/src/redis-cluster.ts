import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort, waitForPing } from './redis-server.ts';

const run = promisify(execFile);

/** A private Redis Cluster of three masters (no replicas) on loopback ports, for one test file. */
export type TestRedisCluster = {
  /** The masters' client ports. */
  readonly ports: readonly number[];
  /** The temporary directory holding the nodes' files, removed by `stop`. */
  readonly directory: string;
  /** `redis://[:password@]127.0.0.1:<first port>`: a seed node, as REDIS_URL with REDIS_CLUSTER=true. */
  readonly url: string;
  /** A cluster client (BullMQ-ready), closed by `stop`. */
  connection(): Cluster;
  /** FLUSHALL on every master: every key of the cluster is gone, as after a failover to empty nodes. */
  flushAll(): Promise<void>;
  /** Kills the servers and removes their directory. */
  stop(): Promise<void>;
};

export type TestRedisClusterOptions = {
  /** Sets `requirepass` (and `masterauth`) on every node; the URL then carries it. */
  password?: string;
};

const MASTERS = 3;

/**
 * Starts three `redis-server --cluster-enabled yes` processes (from the machine's PATH) with
 * persistence off, each in its own directory under one temporary directory, joins them with
 * `redis-cli --cluster create` and waits until every node reports `cluster_state:ok`. The
 * cluster bus ports are chosen free as well (`--cluster-port`), not the default port + 10000,
 * which may be taken or out of range.
 */
export async function startRedisCluster(options: TestRedisClusterOptions = {}): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-redis-cluster-'));
  const children: ChildProcess[] = [];
  const clients: Cluster[] = [];
  const auth = options.password ? ['--requirepass', options.password, '--masterauth', options.password] : [];
  const ports: number[] = [];
  const used: number[] = [];
  // If the test process dies without stop(), its servers must not outlive it.
  const killOnExit = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    await Promise.all(clients.splice(0).map((client) => client.quit().catch(() => client.disconnect())));
    await Promise.all(
      children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < MASTERS; i++) {
      const port = await unusedFreePort(used);
      const busPort = await unusedFreePort(used);
      ports.push(port);
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--cluster-port',
          String(busPort),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          ...auth,
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
    }
    const userinfo = options.password ? `:${encodeURIComponent(options.password)}@` : '';
    await Promise.all(ports.map((port) => waitForPing(`redis://${userinfo}127.0.0.1:${port}`)));
    await run(
      'redis-cli',
      [
        ...(options.password ? ['-a', options.password, '--no-auth-warning'] : []),
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 120_000 },
    );
    await Promise.all(ports.map((port) => waitForClusterOk(`redis://${userinfo}127.0.0.1:${port}`)));
    const url = `redis://${userinfo}127.0.0.1:${ports[0]}`;
    return {
      ports,
      directory: dir,
      url,
      connection() {
        const client = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], {
          redisOptions: {
            maxRetriesPerRequest: null,
            ...(options.password ? { password: options.password } : {}),
          },
        });
        clients.push(client);
        return client;
      },
      async flushAll() {
        for (const port of ports) {
          const node = new Redis(`redis://${userinfo}127.0.0.1:${port}`, { maxRetriesPerRequest: 1 });
          try {
            await node.flushall();
          } finally {
            node.disconnect();
          }
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A free loopback port that is none of `used` (the cluster's client and bus ports so far). */
async function unusedFreePort(used: number[]): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!used.includes(port)) {
      used.push(port);
      return port;
    }
  }
}

// Generous: on a loaded machine the nodes take many times longer to agree on the slots.
async function waitForClusterOk(url: string, timeoutMs = 120_000): Promise<void> {
  const node = new Redis(url, { maxRetriesPerRequest: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const info = await node.cluster('INFO');
      if (info.includes('cluster_state:ok')) return;
      if (Date.now() > deadline)
        throw new Error(`cluster at ${url.replace(/:[^:@/]*@/, ':***@')} not ok: ${info}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    node.disconnect();
  }
}
