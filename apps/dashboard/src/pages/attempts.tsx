import type { TaskAttempt } from '@switchyard/client';
import { formatDuration, formatTime } from '../format.ts';

/**
 * When each attempt ran and for how long, on one time axis from the first start to the last
 * finish, a row per attempt. Bars never shrink below a sliver, so a 3 ms attempt next to a
 * 30 s one stays visible; the exact figures are in the label and the history table.
 */
export function AttemptTimeline({ attempts }: { attempts: TaskAttempt[] }) {
  if (attempts.length === 0) return <p>No attempt has run yet.</p>;
  const sorted = [...attempts].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const start = Math.min(...sorted.map((a) => Date.parse(a.startedAt)));
  const end = Math.max(...sorted.map((a) => Date.parse(a.finishedAt)));
  const span = Math.max(1, end - start);
  return (
    <ol className="timeline" aria-label={`Attempts over ${formatDuration(span)}`}>
      {sorted.map((attempt) => {
        const left = ((Date.parse(attempt.startedAt) - start) / span) * 100;
        const width = Math.max(0.8, (attempt.durationMs / span) * 100);
        const label = `${attempt.step} attempt ${attempt.attempt}: ${attempt.outcome.replace(/_/g, ' ')}, ${formatDuration(attempt.durationMs)}, started ${formatTime(attempt.startedAt)}`;
        return (
          <li key={`${attempt.step}-${attempt.attempt}`} className="timeline-row">
            <span className="timeline-label">
              {attempt.step} #{attempt.attempt}
            </span>
            <span className="timeline-track">
              <span
                className={`timeline-bar outcome-${attempt.outcome}`}
                style={{
                  left: `${Math.min(left, 99.2)}%`,
                  width: `${Math.min(width, 100 - Math.min(left, 99.2))}%`,
                }}
                title={label}
              />
            </span>
            <span className="timeline-text">
              {attempt.outcome.replace(/_/g, ' ')} · {formatDuration(attempt.durationMs)}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

/** Every attempt with what the worker recorded about its failure. */
export function AttemptTable({ attempts }: { attempts: TaskAttempt[] }) {
  if (attempts.length === 0) return <p>No attempt has run yet.</p>;
  return (
    <table className="data" data-testid="attempt-history">
      <caption className="visually-hidden">Attempt history</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">#</th>
          <th scope="col">Outcome</th>
          <th scope="col">Error class</th>
          <th scope="col">Code</th>
          <th scope="col">Message</th>
          <th scope="col">HTTP</th>
          <th scope="col">Retry after</th>
          <th scope="col">Duration</th>
          <th scope="col">Started</th>
          <th scope="col">Worker</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((attempt) => (
          <tr key={`${attempt.step}-${attempt.attempt}`}>
            <td>{attempt.step}</td>
            <td>{attempt.attempt}</td>
            <td>
              {attempt.outcome.replace(/_/g, ' ')}
              {attempt.stale ? ' (stale)' : ''}
              {attempt.fallback ? ' (fallback)' : ''}
            </td>
            <td>{attempt.errorClass ?? '—'}</td>
            <td>{attempt.errorCode ?? '—'}</td>
            <td className="wrap">{attempt.errorMessage ?? '—'}</td>
            <td>{attempt.httpStatus ?? '—'}</td>
            <td>{formatDuration(attempt.retryAfterMs)}</td>
            <td>{formatDuration(attempt.durationMs)}</td>
            <td>{formatTime(attempt.startedAt)}</td>
            <td className="wrap">{attempt.workerId}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
