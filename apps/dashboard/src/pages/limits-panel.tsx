import type { ServiceLimit, ServiceLimitDetail } from '@switchyard/client';
import { callApi } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { formatTime } from '../format.ts';
import { changeRow, limitCells } from '../limits.ts';
import { useApi } from '../use-api.ts';
import { LimitOverrideForm } from './limit-override-form.tsx';

const POLL_MS = 2_000;

/**
 * The bulkheads beside the breakers: each limited system's limit, calls in flight and waiting
 * steps, the operator's override, the adaptive limiter's state, and the history of each adaptive
 * system's limit with the evidence of every change.
 */
export function LimitsPanel() {
  const list = useApi('limits', () => callApi<{ limits: ServiceLimit[] }>('GET', '/v1/limits'), POLL_MS);
  return (
    <section aria-labelledby="limits-heading">
      <h2 id="limits-heading">Concurrency and rate limits</h2>
      <ErrorNote error={list.error} />
      {list.data && list.data.limits.length === 0 && <p>No dependent system is limited.</p>}
      {list.data && list.data.limits.length > 0 && (
        <table className="data">
          <caption className="visually-hidden">Limits by dependent system</caption>
          <thead>
            <tr>
              <th scope="col">Dependent system</th>
              <th scope="col">Max concurrent</th>
              <th scope="col">Rate</th>
              <th scope="col">In flight</th>
              <th scope="col">Waiting (held by the limit)</th>
              <th scope="col">Override</th>
              <th scope="col">Adaptive</th>
            </tr>
          </thead>
          <tbody>
            {list.data.limits.map((limit) => {
              const cells = limitCells(limit);
              return (
                <tr key={limit.dependentSystem}>
                  <th scope="row">{limit.dependentSystem}</th>
                  <td>{cells.maxConcurrent}</td>
                  <td>{cells.rate}</td>
                  <td data-testid={`limit-in-flight-${limit.dependentSystem}`}>{cells.inFlight}</td>
                  <td>{cells.waiting}</td>
                  <td>{cells.override}</td>
                  <td data-testid={`limit-adaptive-${limit.dependentSystem}`}>{cells.adaptive}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {list.data?.limits
        .filter((limit) => limit.adaptive)
        .map((limit) => (
          <LimitHistory key={limit.dependentSystem} system={limit.dependentSystem} />
        ))}
      {list.data && <LimitOverrideForm limits={list.data.limits} onChanged={list.reload} />}
    </section>
  );
}

const HISTORY_ROWS = 10;

/** The latest changes of one system's limit: who moved it, to what, why, and on what evidence. */
function LimitHistory({ system }: { system: string }) {
  const detail = useApi(
    `limit-history-${system}`,
    () => callApi<ServiceLimitDetail>('GET', `/v1/limits/${encodeURIComponent(system)}`),
    POLL_MS,
  );
  const headingId = `limit-history-${system}`;
  return (
    <section aria-labelledby={headingId}>
      <h3 id={headingId}>Limit history of {system}</h3>
      <ErrorNote error={detail.error} />
      {detail.data && (
        <table className="data" data-testid={headingId}>
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col">By</th>
              <th scope="col">Max concurrent</th>
              <th scope="col">Why</th>
              <th scope="col">Evidence</th>
            </tr>
          </thead>
          <tbody>
            {detail.data.changes.slice(0, HISTORY_ROWS).map((change) => {
              const row = changeRow(change);
              return (
                <tr key={`${row.at}-${row.source}-${row.limit}`}>
                  <td>{formatTime(row.at)}</td>
                  <td>{row.source}</td>
                  <td>{row.limit}</td>
                  <td>{row.reason}</td>
                  <td>{row.evidence}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
