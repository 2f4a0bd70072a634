import { access } from 'node:fs/promises';
import { createServer } from 'node:net';

/**
 * Only these hosts count as "this machine". Anything else (another host, a unix socket, a
 * Docker service name) is someone else's server: we never start a stand-in for it, because
 * the data would silently land somewhere other than where the URL says.
 */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** `host:port` of a URL for messages, with the scheme's default port filled in. */
export function hostPort(url: URL, defaultPort: number): string {
  return `${url.hostname}:${url.port || defaultPort}`;
}

/**
 * `preferred` when nothing listens on it on 127.0.0.1, else a port the OS picks. Keeping the
 * URL's own port means an unchanged DATABASE_URL / REDIS_URL finds the same server again if
 * this process dies without stopping it.
 */
export async function choosePort(preferred: number): Promise<number> {
  return (await listenOnce(preferred)) ?? (await listenOnce(0))!;
}

/** Binds and releases `port` on 127.0.0.1; the bound port, or null when it is taken. */
function listenOnce(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(null) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

/** Polls `check` every 50 ms until it returns true; false once `timeoutMs` has passed. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Whether `path` exists and allows `mode` (`fs.constants`; default: it exists). */
export function canAccess(path: string, mode?: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}
