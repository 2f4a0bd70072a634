import { createApiKey, type Pool, revokeApiKey } from '@switchyard/db';

/**
 * How long the demo's admin key lives: longer than a run (under a minute; a slow one waits at
 * most 3 minutes for the registrations) with time to look around the dashboard, short enough
 * that a run killed before it could revoke the key leaves nothing usable for long.
 */
export const DEMO_KEY_TTL_MS = 30 * 60_000;

/** How long revoking may take when a signal ends the run, before the process exits anyway. */
const REVOKE_ON_SIGNAL_MS = 2_000;
const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Runs `use` with a new admin key that expires after `ttlMs`, and revokes the key when `use`
 * settles (resolved or thrown) or when SIGINT/SIGTERM ends the run first, so no run of the
 * demo leaves a live admin key behind. A key that cannot be revoked (the database is gone) is
 * reported on stderr; its expiry is the backstop.
 */
export async function withDemoKey<T>(
  pool: Pool,
  name: string,
  use: (key: string) => Promise<T>,
  ttlMs: number = DEMO_KEY_TTL_MS,
): Promise<T> {
  const { key, view } = await createApiKey(pool, {
    name,
    scopes: ['admin'],
    createdBy: 'demo',
    expiresAt: new Date(Date.now() + ttlMs),
  });
  const revoke = () =>
    revokeApiKey(pool, view.id).then(
      () => undefined,
      (err: unknown) => {
        process.stderr.write(
          `could not revoke the demo's API key ${view.prefix} (it expires at ${view.expiresAt?.toISOString()}): ${(err as Error).message}\n`,
        );
      },
    );
  const onSignal = (signal: keyof typeof SIGNALS) => {
    const bound = new Promise((resolve) => setTimeout(resolve, REVOKE_ON_SIGNAL_MS).unref());
    void Promise.race([revoke(), bound]).finally(() => process.exit(SIGNALS[signal]));
  };
  for (const signal of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) process.once(signal, onSignal);
  try {
    return await use(key);
  } finally {
    for (const signal of Object.keys(SIGNALS)) process.off(signal, onSignal);
    await revoke();
  }
}
