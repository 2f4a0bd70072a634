import type { Queue } from '@switchyard/client';
import { callApi } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { formatTime } from '../format.ts';
import { useApi } from '../use-api.ts';

const POLL_MS = 2_000;
const STEP_STATES = ['enqueued', 'held', 'in_progress', 'waiting_retry'] as const;

/** One queue per step type: how much waits in Redis, what Postgres says is open, who consumes it. */
export function QueuesPage() {
  const queues = useApi('queues', () => callApi<{ queues: Queue[] }>('GET', '/v1/queues'), POLL_MS);
  return (
    <section aria-labelledby="queues-heading">
      <h1 id="queues-heading">Queues</h1>
      <p className="muted">
        Depth is the jobs waiting to be taken; a step type with depth and no worker is stuck until one starts.
      </p>
      <ErrorNote error={queues.error} />
      {queues.data && queues.data.queues.length === 0 && (
        <p>No template is registered, so there is no queue.</p>
      )}
      {queues.data && queues.data.queues.length > 0 && (
        <table className="data">
          <caption className="visually-hidden">Queues by step type</caption>
          <thead>
            <tr>
              <th scope="col">Step type</th>
              <th scope="col">Depth</th>
              <th scope="col">Jobs: waiting / prioritized / delayed / active</th>
              <th scope="col">Open steps</th>
              <th scope="col">Workers consuming it</th>
            </tr>
          </thead>
          <tbody>
            {queues.data.queues.map((queue) => (
              <tr key={queue.stepType} data-step-type={queue.stepType}>
                <th scope="row">{queue.stepType}</th>
                <td data-testid={`depth-${queue.stepType}`}>{queue.depth}</td>
                <td>
                  {queue.jobs.wait} / {queue.jobs.prioritized} / {queue.jobs.delayed} / {queue.jobs.active}
                </td>
                <td>
                  {STEP_STATES.filter((state) => queue.steps[state])
                    .map((state) => `${state.replace(/_/g, ' ')} ${queue.steps[state]}`)
                    .join(', ') || 'none'}
                </td>
                <td>
                  {queue.workers.length === 0 ? (
                    <strong className="warn">none</strong>
                  ) : (
                    <ul className="plain">
                      {queue.workers.map((worker) => (
                        <li key={worker.id}>
                          <code>{worker.id}</code> on {worker.hostname} (pid {worker.pid},{' '}
                          {worker.concurrency} slots, seen {formatTime(worker.lastSeenAt)})
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
