import type { TaskCounts, TaskPage, TaskSummary, TemplateSummary } from '@switchyard/client';
import { type FormEvent, useState } from 'react';
import { callApi, withQuery } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { formatTime, shortId } from '../format.ts';
import { href } from '../route.ts';
import { useApi } from '../use-api.ts';

type TaskStatus = TaskSummary['status'];
// Every status of the contract, in the order the filter shows them: a status added to the
// contract fails the typecheck here until it is placed.
const STATUS_ORDER = { pending: 0, in_progress: 1, complete: 2, error: 3, cancelled: 4 } satisfies Record<
  TaskStatus,
  number
>;
const STATUSES = (Object.keys(STATUS_ORDER) as TaskStatus[]).sort(
  (a, b) => STATUS_ORDER[a] - STATUS_ORDER[b],
);
const PAGE_SIZE = 25;
const POLL_MS = 2_000;

type Filters = {
  namespace: string;
  name: string;
  status: string;
  correlationId: string;
  createdAfter: string;
  createdBefore: string;
};
const NO_FILTERS: Filters = {
  namespace: '',
  name: '',
  status: '',
  correlationId: '',
  createdAfter: '',
  createdBefore: '',
};

/** `<input type="datetime-local">` holds local time without a zone; the API wants an instant. */
function toInstant(local: string): string | undefined {
  return local ? new Date(local).toISOString() : undefined;
}

function apiFilters(filters: Filters) {
  return {
    namespace: filters.namespace.trim(),
    name: filters.name.trim(),
    correlationId: filters.correlationId.trim(),
    createdAfter: toInstant(filters.createdAfter),
    createdBefore: toInstant(filters.createdBefore),
  };
}

/**
 * Tasks, newest first, filtered and paged by the server (keyset cursors: a page costs the same
 * at task 100 000 as at task 1), with counts by status for the same filters. Refreshes itself.
 */
export function TasksPage() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  // Cursors of the pages before the current one: "Previous" pops, "Next" pushes.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [live, setLive] = useState(true);
  const cursor = cursors.at(-1);
  const query = { ...apiFilters(filters), status: filters.status, cursor, limit: PAGE_SIZE };
  const pagePath = withQuery('/v1/tasks', query);
  const countsPath = withQuery('/v1/tasks/counts', apiFilters(filters));
  const page = useApi(pagePath, () => callApi<TaskPage>('GET', pagePath), live ? POLL_MS : undefined);
  const counts = useApi(countsPath, () => callApi<TaskCounts>('GET', countsPath), live ? POLL_MS : undefined);
  const templates = useApi('templates', () =>
    callApi<{ templates: TemplateSummary[] }>('GET', '/v1/templates'),
  );

  const apply = (next: Filters) => {
    setFilters(next);
    setCursors([undefined]);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    apply(draft);
  };
  const pickStatus = (status: string) => {
    const next = { ...draft, status: filters.status === status ? '' : status };
    setDraft(next);
    apply(next);
  };

  return (
    <section aria-labelledby="tasks-heading">
      <h1 id="tasks-heading">Tasks</h1>
      <FilterForm
        templates={templates.data?.templates ?? []}
        draft={draft}
        onChange={setDraft}
        onSubmit={submit}
        onClear={() => {
          setDraft(NO_FILTERS);
          apply(NO_FILTERS);
        }}
      />
      <StatusCounts counts={counts.data} selected={filters.status} onPick={pickStatus} />
      <div className="toolbar">
        <label className="inline">
          <input type="checkbox" checked={live} onChange={(event) => setLive(event.target.checked)} /> Live
          refresh (every {POLL_MS / 1000} s)
        </label>
        <button
          type="button"
          onClick={() => {
            page.reload();
            counts.reload();
          }}
        >
          Refresh now
        </button>
      </div>
      <ErrorNote error={page.error ?? counts.error} />
      <TaskTable page={page.data} />
      <nav aria-label="Task pages" className="pager">
        <button
          type="button"
          disabled={cursors.length === 1}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          ← Newer
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          disabled={!page.data?.nextCursor}
          onClick={() => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor])}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}

function FilterForm(props: {
  templates: TemplateSummary[];
  draft: Filters;
  onChange(next: Filters): void;
  onSubmit(event: FormEvent): void;
  onClear(): void;
}) {
  const { draft, onChange } = props;
  const field = (name: keyof Filters) => ({
    id: `filter-${name}`,
    name,
    value: draft[name],
    onChange: (event: { target: { value: string } }) => onChange({ ...draft, [name]: event.target.value }),
  });
  return (
    <form className="filters" onSubmit={props.onSubmit} aria-label="Filter tasks">
      <div>
        <label htmlFor="filter-namespace">Namespace</label>
        <input list="known-namespaces" {...field('namespace')} />
      </div>
      <div>
        <label htmlFor="filter-name">Template</label>
        <input list="known-templates" {...field('name')} />
      </div>
      {/* Suggestions from the registered templates; any text may still be typed. */}
      <datalist id="known-namespaces">
        {[...new Set(props.templates.map((template) => template.namespace))].map((namespace) => (
          <option key={namespace} value={namespace} />
        ))}
      </datalist>
      <datalist id="known-templates">
        {[...new Set(props.templates.map((template) => template.name))].map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
      <div>
        <label htmlFor="filter-status">Status</label>
        <select {...field('status')}>
          <option value="">any</option>
          {STATUSES.map((status) => (
            <option key={status} value={status}>
              {status.replace(/_/g, ' ')}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label htmlFor="filter-correlationId">Correlation id</label>
        <input {...field('correlationId')} />
      </div>
      <div>
        <label htmlFor="filter-createdAfter">Created after</label>
        <input type="datetime-local" step="1" {...field('createdAfter')} />
      </div>
      <div>
        <label htmlFor="filter-createdBefore">Created before</label>
        <input type="datetime-local" step="1" {...field('createdBefore')} />
      </div>
      <div className="filter-actions">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={props.onClear}>
          Clear
        </button>
      </div>
    </form>
  );
}

function StatusCounts(props: {
  counts: TaskCounts | undefined;
  selected: string;
  onPick(status: string): void;
}) {
  return (
    <section aria-label="Tasks by status" className="counts">
      <span className="count-total" data-testid="count-total">
        {props.counts ? `${props.counts.total} ${props.counts.total === 1 ? 'task' : 'tasks'}` : '…'}
      </span>
      {STATUSES.map((status) => (
        <button
          type="button"
          key={status}
          className={`count status-${status}`}
          aria-pressed={props.selected === status}
          onClick={() => props.onPick(status)}
          data-testid={`count-${status}`}
        >
          {status.replace(/_/g, ' ')}: <strong>{props.counts?.counts[status] ?? '…'}</strong>
        </button>
      ))}
    </section>
  );
}

function TaskTable({ page }: { page: TaskPage | undefined }) {
  if (!page) return <p>Loading tasks…</p>;
  if (page.tasks.length === 0) return <p>No task matches these filters.</p>;
  return (
    <table className="data">
      <caption className="visually-hidden">Tasks, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Task</th>
          <th scope="col">Template</th>
          <th scope="col">Status</th>
          <th scope="col">Correlation id</th>
          <th scope="col">Created</th>
          <th scope="col">Finished</th>
        </tr>
      </thead>
      <tbody>
        {page.tasks.map((task) => (
          <tr key={task.id} data-task-id={task.id}>
            <td>
              <a href={href({ page: 'task', id: task.id })} aria-label={`Task ${task.id}`}>
                <code>{shortId(task.id)}</code>
              </a>
            </td>
            <td>
              {task.namespace}/{task.name}@{task.version}
            </td>
            <td>
              <StatusBadge status={task.status} />
            </td>
            <td className="wrap">{task.correlationId}</td>
            <td>{formatTime(task.createdAt)}</td>
            <td>{formatTime(task.completedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
