import type { Step, Task, TaskAttempt } from '@switchyard/client';
import { useEffect, useState } from 'react';
import { callApi, segment } from '../api.ts';
import { dagDetail, dagStatus } from '../batch-progress.ts';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog.tsx';
import { DagView, focusStepRow } from '../components/dag-view.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { JsonBlock } from '../components/json-block.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { decisionDetail, resolvePrompt } from '../decisions.ts';
import { formatTime } from '../format.ts';
import { useTaskEvents } from '../task-events.ts';
import { useApi } from '../use-api.ts';
import { AttemptTable, AttemptTimeline } from './attempts.tsx';

const POLL_MS = 2_000;
const FINISHED = new Set(['complete', 'error', 'cancelled']);
// A running or finished step cannot be resolved by hand; the API answers 409 for those.
const RESOLVABLE = new Set(['pending', 'enqueued', 'held', 'waiting_retry', 'error']);

type TaskView = { task: Task; attempts: TaskAttempt[] };

/** Everything about one task, reloaded while it is still running. */
async function loadTask(id: string): Promise<TaskView> {
  const [task, { attempts }] = await Promise.all([
    callApi<Task>('GET', `/v1/tasks/${segment(id)}`),
    callApi<{ attempts: TaskAttempt[] }>('GET', `/v1/tasks/${segment(id)}/attempts`),
  ]);
  return { task, attempts };
}

/** One task: its DAG with each step's state, attempts, context and results, and the operator actions. */
export function TaskPage({ id }: { id: string }) {
  const [finished, setFinished] = useState(false);
  const view = useApi(`task:${id}`, () => loadTask(id), finished ? undefined : POLL_MS);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  // The step picked in the DAG: its row in the steps table is highlighted.
  const [selectedStep, setSelectedStep] = useState<string>();
  const task = view.data?.task;
  // A finished task stops polling; a retried one (running again) starts again.
  useEffect(() => {
    if (task) setFinished(FINISHED.has(task.status));
  }, [task]);
  // Failures, resolutions and the end show at once from the task's event stream; the polling
  // above shows the steps' progress in between, which has no events.
  useTaskEvents(id, !finished, view.reload);

  const act = async (path: string, body: unknown) => {
    await callApi('POST', path, body);
    view.reload();
  };
  const base = `/v1/tasks/${segment(id)}`;
  const askCancel = () =>
    setConfirm({
      title: 'Cancel this task?',
      message: 'No further step will run and running handlers are aborted. This cannot be undone.',
      confirmLabel: 'Cancel task',
      reason: 'optional',
      onConfirm: ({ reason }) => act(`${base}/cancel`, reason ? { reason } : {}),
    });
  const askRetry = (step: Step) =>
    setConfirm({
      title: `Retry step ${step.name}?`,
      message: `The step gets ${step.maxAttempts} fresh attempts (earlier ones stop counting) and the task resumes from it.`,
      confirmLabel: 'Retry step',
      reason: 'optional',
      onConfirm: ({ reason }) => act(`${base}/steps/${segment(step.name)}/retry`, reason ? { reason } : {}),
    });
  const askResolve = (step: Step) =>
    setConfirm({
      title: `Resolve step ${step.name} by hand?`,
      message: resolvePrompt(step).message,
      confirmLabel: 'Resolve step',
      reason: 'optional',
      json: true,
      onConfirm: ({ reason, json }) =>
        act(`${base}/steps/${segment(step.name)}/resolve`, {
          ...(reason ? { reason } : {}),
          ...resolvePrompt(step).body(json),
        }),
    });

  return (
    <section aria-labelledby="task-heading">
      <p>
        <a href="#/tasks">← All tasks</a>
      </p>
      <h1 id="task-heading">
        Task <code>{id}</code>
      </h1>
      <ErrorNote error={view.error} />
      {!task ? (
        <p>Loading…</p>
      ) : (
        <>
          <TaskHeader task={task} onCancel={askCancel} />
          <h2>Workflow</h2>
          <DagView
            label={`Steps of ${task.namespace}/${task.name}`}
            steps={task.steps.map((step) => ({
              name: step.name,
              dependsOn: step.dependsOn,
              status: dagStatus(step),
              detail: decisionDetail(step) ?? dagDetail(step),
            }))}
            onSelect={(name) => {
              setSelectedStep(name);
              focusStepRow(name);
            }}
          />
          <StepTable steps={task.steps} selected={selectedStep} onRetry={askRetry} onResolve={askResolve} />
          <h2>Attempt timeline</h2>
          <AttemptTimeline attempts={view.data?.attempts ?? []} />
          <h2>Attempt history</h2>
          <AttemptTable attempts={view.data?.attempts ?? []} />
          <h2>Context</h2>
          <JsonBlock value={task.context} label="Task context" />
        </>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}

function TaskHeader({ task, onCancel }: { task: Task; onCancel(): void }) {
  return (
    <div className="task-header">
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="task-status">
          <StatusBadge status={task.status} />
        </dd>
        <dt>Template</dt>
        <dd>
          <a href={`#/templates/${segment(task.namespace)}/${segment(task.name)}`}>
            {task.namespace}/{task.name}@{task.version}
          </a>
        </dd>
        <dt>Correlation id</dt>
        <dd className="wrap">{task.correlationId}</dd>
        <dt>Created</dt>
        <dd>{formatTime(task.createdAt)}</dd>
        {task.runAt && (
          <>
            <dt>Starts at</dt>
            <dd data-testid="task-run-at">{formatTime(task.runAt)} (delayed start)</dd>
          </>
        )}
        {task.scheduleId && (
          <>
            <dt>Schedule</dt>
            <dd data-testid="task-schedule">
              <a href="#/schedules">
                <code>{task.scheduleId}</code>
              </a>
              , tick {formatTime(task.scheduleTickAt)}
            </dd>
          </>
        )}
        <dt>Finished</dt>
        <dd>{formatTime(task.completedAt)}</dd>
      </dl>
      {!FINISHED.has(task.status) && (
        <button type="button" className="danger" onClick={onCancel}>
          Cancel task…
        </button>
      )}
    </div>
  );
}

function StepTable(props: {
  steps: Step[];
  selected: string | undefined;
  onRetry(step: Step): void;
  onResolve(step: Step): void;
}) {
  return (
    <table className="data">
      <caption>Steps</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Status</th>
          <th scope="col">Attempts</th>
          <th scope="col">System</th>
          <th scope="col">Next attempt / hold</th>
          <th scope="col">Results or last error</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {props.steps.map((step) => (
          <tr
            key={step.id}
            data-step={step.name}
            aria-current={step.name === props.selected ? 'true' : undefined}
          >
            {/* Focusable from script only: where a step picked in the DAG takes the focus. */}
            <th scope="row" tabIndex={-1}>
              {step.name}
            </th>
            <td>
              <StatusBadge status={step.status} />
            </td>
            <td>
              {step.attempts} of {step.maxAttempts}
              {step.uncountedAttempts > 0 ? ` (${step.uncountedAttempts} not counted)` : ''}
            </td>
            <td>
              <a href={`#/breakers/${segment(step.dependentSystem)}`}>{step.dependentSystem}</a>
            </td>
            <td>
              {step.holdReason
                ? `held: ${step.holdReason} until ${formatTime(step.holdUntil)}`
                : formatTime(step.nextAttemptAt)}
            </td>
            <td>
              <details>
                <summary>{step.lastError && step.status === 'error' ? 'Last error' : 'Results'}</summary>
                <JsonBlock
                  value={step.status === 'error' ? step.lastError : step.results}
                  label={`${step.name} ${step.status === 'error' ? 'last error' : 'results'}`}
                />
              </details>
            </td>
            <td className="actions">
              <div>
                {step.status === 'error' && (
                  <button type="button" onClick={() => props.onRetry(step)}>
                    Retry {step.name}…
                  </button>
                )}
                {RESOLVABLE.has(step.status) && (
                  <button type="button" onClick={() => props.onResolve(step)}>
                    Resolve {step.name}…
                  </button>
                )}
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
