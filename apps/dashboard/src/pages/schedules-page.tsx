import type { Schedule } from '@switchyard/client';
import { useState } from 'react';
import { callApi, segment } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { formatTime } from '../format.ts';
import { href } from '../route.ts';
import { useApi } from '../use-api.ts';

const POLL_MS = 2_000;

/** Cron schedules: when each fires next, the task its last tick created, paused or not. */
export function SchedulesPage() {
  const list = useApi('schedules', () => callApi<{ schedules: Schedule[] }>('GET', '/v1/schedules'), POLL_MS);
  const [actionError, setActionError] = useState<Error>();
  const act = async (schedule: Schedule) => {
    const action = schedule.paused ? 'resume' : 'pause';
    try {
      await callApi('POST', `/v1/schedules/${segment(schedule.id)}/${action}`, {});
      setActionError(undefined);
    } catch (err) {
      setActionError(err instanceof Error ? err : new Error(String(err)));
    }
    list.reload();
  };
  return (
    <section aria-labelledby="schedules-heading">
      <h1 id="schedules-heading">Schedules</h1>
      <p className="muted">
        Each tick of a schedule starts one task of its template. Create them with{' '}
        <code>POST /v1/schedules</code> or <code>switchyard schedules create</code>.
      </p>
      <ErrorNote error={list.error ?? actionError} />
      {list.data && list.data.schedules.length === 0 && <p>No schedule.</p>}
      {list.data && list.data.schedules.length > 0 && (
        <table className="data">
          <caption className="visually-hidden">Schedules, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Template</th>
              <th scope="col">Cron</th>
              <th scope="col">Next run</th>
              <th scope="col">Last task</th>
              <th scope="col">Overlap / catch-up</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {list.data.schedules.map((schedule) => (
              <tr key={schedule.id} data-schedule-id={schedule.id}>
                <th scope="row">
                  <a href={href({ page: 'templates', namespace: schedule.namespace, name: schedule.name })}>
                    {schedule.namespace}/{schedule.name}
                    {schedule.version ? `@${schedule.version}` : ''}
                  </a>
                  <div className="muted">
                    <code>{schedule.id}</code>
                  </div>
                </th>
                <td>
                  <code>{schedule.cron}</code> {schedule.timezone}
                </td>
                <td data-testid={`next-run-${schedule.id}`}>
                  {schedule.paused ? '—' : formatTime(schedule.nextRunAt)}
                </td>
                <td>
                  {schedule.lastTaskId ? (
                    <>
                      <a href={href({ page: 'task', id: schedule.lastTaskId })}>
                        {formatTime(schedule.lastTickAt)}
                      </a>{' '}
                      {schedule.lastTaskStatus && <StatusBadge status={schedule.lastTaskStatus} />}
                    </>
                  ) : (
                    'none yet'
                  )}
                </td>
                <td>
                  {schedule.overlap.replace(/_/g, ' ')} / {schedule.catchUp}
                </td>
                <td>
                  {schedule.paused ? <strong className="warn">paused</strong> : 'active'}{' '}
                  <button type="button" onClick={() => act(schedule)}>
                    {schedule.paused ? 'Resume' : 'Pause'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
