import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/** One Switchyard process of the demo fleet, started the way its container would start it. */
export type FleetProcess = {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
};

/** Starts an app's main (`apps/<app>/src/main.ts`) as a child process with `env`. */
export function startApp(name: string, app: string, env: Record<string, string>): FleetProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', `apps/${app}/src/main.ts`], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, exited, output: () => output };
}

/** SIGTERM to each process, then waits for all (they drain and exit by themselves). */
export async function stopAll(processes: readonly FleetProcess[]): Promise<void> {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(processes.map((p) => p.exited));
}

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200, or fails naming the process whose output explains why. */
export async function waitUntilReady(url: string, owner: FleetProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (owner.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${owner.name} did not become ready at ${url}:\n${owner.output().slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
