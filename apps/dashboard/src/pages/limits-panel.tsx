import type { ServiceLimit } from '@switchyard/client';
import { callApi } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { limitCells } from '../limits.ts';
import { useApi } from '../use-api.ts';
import { LimitOverrideForm } from './limit-override-form.tsx';

const POLL_MS = 2_000;

/**
 * The bulkheads beside the breakers: each limited system's limit, calls in flight and waiting
 * steps, and the operator's override.
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
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {list.data && <LimitOverrideForm limits={list.data.limits} onChanged={list.reload} />}
    </section>
  );
}
