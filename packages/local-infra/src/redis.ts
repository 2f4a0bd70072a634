import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { connect, isIP, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { LocalInfraError } from './errors.ts';
import { canAccess, choosePort, hostPort, isLoopback, waitFor } from './machine.ts';

export type EnsureLocalRedisOptions = {
  /** REDIS_URL as configured (`redis://` or `rediss://`). */
  redisUrl: string;
  /** Receives one line when a server is started. Default: discard. */
  log?: (line: string) => void;
};

export type LocalRedis = {
  /** The URL to use: `redisUrl` itself, or the started server's. */
  redisUrl: string;
  /** True when this call started a redis-server (which `stop` then stops). */
  started: boolean;
  stop(): Promise<void>;
};

/**
 * Uses the Redis at `redisUrl` when it answers PING. Otherwise, when the URL points at this
 * machine, starts `redis-server` from PATH on 127.0.0.1 (the URL's port if free, else any free
 * one) with persistence off: queues are rebuilt from Postgres by the scheduler, so nothing in
 * a dev Redis is worth writing to disk. Throws {@link LocalInfraError} with the command that
 * installs redis-server when it is missing, and for a remote URL that does not answer.
 */
export async function ensureLocalRedis({
  redisUrl,
  log = () => {},
}: EnsureLocalRedisOptions): Promise<LocalRedis> {
  const url = new URL(redisUrl);
  const where = hostPort(url, 6379);
  const probe = await pingRedis(url);
  if (probe === true) return { redisUrl, started: false, stop: async () => {} };
  if (!isLoopback(url)) {
    throw new LocalInfraError(
      `No Redis answers at ${where} (${probe}). That is not this machine, so nothing was started: ` +
        'start that Redis, or point REDIS_URL at a running one.',
    );
  }
  const binary = await findOnPath('redis-server');
  if (!binary) {
    throw new LocalInfraError(
      `No Redis at ${where}, and redis-server is not installed (not on PATH). Install it with:\n` +
        `  ${installCommand()}\nor point REDIS_URL at a running Redis.`,
    );
  }
  const port = await choosePort(Number(url.port || 6379));
  const stop = await startRedisServer(binary, port);
  log(`no Redis at ${where}; started ${binary} on 127.0.0.1:${port} (no persistence)`);
  // The started server is plain and open on loopback: credentials or TLS from the old URL would
  // only make the client's handshake fail.
  const local = new URL(`redis://127.0.0.1:${port}${url.pathname}`);
  return { redisUrl: local.toString(), started: true, stop };
}

/** The one command that installs redis-server here. */
function installCommand(): string {
  return process.platform === 'darwin'
    ? 'brew install redis'
    : 'sudo apt-get install -y redis-server      (Debian/Ubuntu; on macOS: brew install redis)';
}

/** The first executable `name` on PATH, as the shell would find it; null when there is none. */
async function findOnPath(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await canAccess(candidate, constants.X_OK)) return candidate;
  }
  return null;
}

/**
 * Starts the server and waits until it answers PING; resolves with its `stop`. It stays in this
 * process group, so a Ctrl-C in the terminal stops it along with everything else, and it is
 * killed when this process exits without calling `stop`.
 */
async function startRedisServer(binary: string, port: number): Promise<() => Promise<void>> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exit.then(() => {
    exited = true;
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) child.kill('SIGTERM');
    await exit;
  };
  const url = new URL(`redis://127.0.0.1:${port}`);
  const ready = await waitFor(async () => exited || (await pingRedis(url)) === true, 10_000);
  if (!ready || exited) {
    await stop();
    throw new LocalInfraError(`redis-server did not start on 127.0.0.1:${port}:\n${output.trim()}`);
  }
  return stop;
}

/**
 * True when a Redis answers a PING at `url`; otherwise why not. Any reply counts, an error
 * such as NOAUTH too: a Redis is there, and the real client brings the credentials. Raw RESP
 * over a socket, because this package should not carry a Redis client for one command.
 */
function pingRedis(url: URL, timeoutMs = 2_000): Promise<true | string> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 6379);
  return new Promise((resolve) => {
    // The probe sends no credentials and reads one line, so an unverified certificate costs
    // nothing here; the client that connects afterwards verifies it.
    const socket: Socket =
      url.protocol === 'rediss:'
        ? connectTls({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) })
        : connect({ host, port });
    const done = (result: true | string) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once(url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () =>
      socket.write('*1\r\n$4\r\nPING\r\n'),
    );
    socket.once('data', (chunk) => done(/^[+-]/.test(chunk.toString()) ? true : 'not a Redis reply'));
    socket.once('error', (err) => done(err.message));
    socket.once('end', () => done('connection closed'));
  });
}
