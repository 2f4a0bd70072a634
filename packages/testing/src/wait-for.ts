/**
 * Polls `check` until it returns a truthy value, and returns it; fails after `timeoutMs`
 * naming `what`. The default deadline is generous (the CI machine is shared, and a loaded one
 * starts processes many times slower): a wait is a condition, and only one that never comes
 * true fails.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
