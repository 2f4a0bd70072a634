import { useCallback, useEffect, useRef, useState } from 'react';

/** What a page knows about one API read. */
export type Loaded<T> = {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  /** Reads again now (after an operator action, say). */
  reload(): void;
};

/**
 * Reads `load` when `key` changes, and again every `pollMs` while `pollMs` is set: the
 * dashboard's live refresh, without reloading the page. A slow answer to an older key never
 * overwrites a newer one.
 */
export function useApi<T>(key: string, load: () => Promise<T>, pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setTick((n) => n + 1), []);

  // `tick` is the reload signal: a new value reads again with the same key.
  useEffect(() => {
    let current = true;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (!current) return;
        setError(err instanceof Error ? err : new Error(String(err)));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [key, tick]);

  useEffect(() => {
    if (!pollMs) return;
    // A tab nobody looks at does not poll: a dashboard left open overnight costs the API nothing.
    const timer = setInterval(() => {
      if (!document.hidden) reload();
    }, pollMs);
    return () => clearInterval(timer);
  }, [pollMs, reload]);

  return { data, error, loading, reload };
}
