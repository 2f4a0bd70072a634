/**
 * The image's HEALTHCHECK. The api answers /health/live on its port; the other roles serve no
 * HTTP, so for them the check is that the role's process still runs (PID 1 is tini, which exits
 * with its child). Kubernetes uses its own probes (infra/k8s) and ignores this.
 */
import { readFileSync } from 'node:fs';

const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
if (!args.includes('api')) process.exit(0);
const port = process.env.SWITCHYARD_API_PORT ?? '8080';
try {
  const response = await fetch(`http://127.0.0.1:${port}/health/live`, {
    signal: AbortSignal.timeout(4_000),
  });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
