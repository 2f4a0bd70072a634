import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitForPing } from './redis-server.ts';

const run = promisify(execFile);

/**
 * A private redis-server that accepts only TLS connections and only an ACL user with a
 * password, as managed Redis services do, with a certificate from a CA of its own.
 */
export type TestTlsRedisServer = {
  readonly port: number;
  /** `rediss://<user>:<password>@localhost:<port>`: everything a process needs but the CA. */
  readonly url: string;
  /** PEM file of the CA that signed the server's certificate (NODE_EXTRA_CA_CERTS for a process). */
  readonly caFile: string;
  readonly user: string;
  readonly password: string;
  /** A connection trusting the CA (BullMQ-ready). */
  connection(): Redis;
  /** Kills the server and removes its certificates. */
  stop(): Promise<void>;
};

/**
 * Makes a CA and a certificate for `localhost` / 127.0.0.1 with `openssl` (P-256, valid one
 * day) in a temporary directory, and starts `redis-server` with `--port 0 --tls-port <port>`, the
 * default user disabled and the user `switchyard` enabled with a random password.
 */
export async function startTlsRedisServer(): Promise<TestTlsRedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-redis-tls-'));
  const file = (name: string) => join(dir, name);
  let child: ChildProcess | null = null;
  const connections: Redis[] = [];
  const stop = async () => {
    for (const connection of connections.splice(0)) connection.disconnect();
    const running = child;
    child = null;
    if (running && running.exitCode === null && running.signalCode === null) {
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill('SIGKILL');
      });
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await run('openssl', [
      'req',
      '-x509',
      ...key,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=switchyard-test-ca',
    ]);
    await run('openssl', [
      'req',
      ...key,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=localhost',
    ]);
    await writeFile(file('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('server.pem'),
      '-days',
      '1',
      '-extfile',
      file('san.ext'),
    ]);
    const ca = await readFile(file('ca.pem'));
    const port = await freePort();
    const user = 'switchyard';
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    child = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        file('server.pem'),
        '--tls-key-file',
        file('server.key'),
        '--tls-ca-cert-file',
        file('ca.pem'),
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        // Config directives take their words as separate arguments.
        '--user',
        'default',
        'off',
        '--user',
        user,
        'on',
        `>${password}`,
        '~*',
        '&*',
        '+@all',
      ],
      { stdio: 'ignore' },
    );
    const url = `rediss://${user}:${password}@localhost:${port}`;
    const connection = () => {
      const redis = new Redis(url, { maxRetriesPerRequest: null, tls: { ca } });
      connections.push(redis);
      return redis;
    };
    await waitForPing(url, 10_000, { tls: { ca } });
    return { port, url, caFile: file('ca.pem'), user, password, connection, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
