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
  // A 400's problem names each field it refused (a JSON pointer) with the rule.
  const fields = error instanceof ApiError ? (error.problem.errors ?? []) : [];
  return (
    <div role="alert" className="error">
      {error.message}
      {hint}
      {fields.length > 0 && (
        <ul className="field-errors">
          {fields.map((field) => (
            <li key={`${field.path} ${field.rule}`}>
              <code>{field.path || '(body)'}</code>: {field.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
