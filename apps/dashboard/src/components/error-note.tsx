import { ApiError } from '../api.ts';

/** An API failure in words: what the server said, and what to do about a missing or weak key. */
export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const hint =
    error instanceof ApiError && error.status === 401
      ? ' Enter a valid API key above.'
      : error instanceof ApiError && error.status === 403
        ? ' This key lacks the scope or namespace for it.'
        : '';
  return (
    <p role="alert" className="error">
      {error.message}
      {hint}
    </p>
  );
}
