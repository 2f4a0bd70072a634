import { type FormEvent, useEffect, useRef, useState } from 'react';
import { storeApiKey, storedApiKey } from './api.ts';
import { BreakersPage } from './pages/breakers-page.tsx';
import { QueuesPage } from './pages/queues-page.tsx';
import { SchedulesPage } from './pages/schedules-page.tsx';
import { TaskPage } from './pages/task-page.tsx';
import { TasksPage } from './pages/tasks-page.tsx';
import { TemplatesPage } from './pages/templates-page.tsx';
import { href, type Route, useRoute } from './route.ts';

const NAV: { page: Route['page']; label: string; hash: string }[] = [
  { page: 'tasks', label: 'Tasks', hash: '#/tasks' },
  { page: 'breakers', label: 'Breakers', hash: '#/breakers' },
  { page: 'templates', label: 'Templates', hash: '#/templates' },
  { page: 'schedules', label: 'Schedules', hash: '#/schedules' },
  { page: 'queues', label: 'Queues', hash: '#/queues' },
];

const TITLES: Partial<Record<Route['page'], string>> = { task: 'Task', not_found: 'Not found' };

/** The shell: a skip link, the navigation, the API key form, and the page the URL names. */
export function App() {
  const route = useRoute();
  const [apiKey, setApiKey] = useState(storedApiKey);
  const section = route.page === 'task' ? 'tasks' : route.page;
  const main = useRef<HTMLElement>(null);
  const label = NAV.find((item) => item.page === section)?.label ?? 'Tasks';
  // A new page announces itself: the window title names it, and focus moves to its content,
  // so a screen reader or keyboard user starts there rather than on the link just followed.
  // Not on the first load, where focus belongs at the top (the skip link).
  const shown = useRef<string | null>(null);
  useEffect(() => {
    document.title = `${TITLES[route.page] ?? label} · Switchyard`;
    const current = href(route);
    if (shown.current !== null && shown.current !== current) main.current?.focus();
    shown.current = current;
  }, [route, label]);
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Switchyard</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.page}>
                <a href={item.hash} aria-current={section === item.page ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <KeyForm
          apiKey={apiKey}
          onChange={(key) => {
            storeApiKey(key);
            setApiKey(key);
          }}
        />
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        {apiKey ? (
          // Keyed by the API key, so a new key reloads every read with it.
          <Page key={apiKey} route={route} />
        ) : (
          <p className="notice">
            Enter an API key (one with the <code>tasks:read</code> scope; <code>operate</code> for cancel,
            retry, resolve and breaker overrides) to see the fleet. It is kept in this browser tab only.
          </p>
        )}
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'task':
      return <TaskPage key={route.id} id={route.id} />;
    case 'breakers':
      return <BreakersPage system={route.system} />;
    case 'templates':
      return <TemplatesPage namespace={route.namespace} name={route.name} />;
    case 'queues':
      return <QueuesPage />;
    case 'schedules':
      return <SchedulesPage />;
    case 'not_found':
      return <NotFound />;
    default:
      return <TasksPage />;
  }
}

function NotFound() {
  return (
    <section aria-labelledby="not-found-heading">
      <h1 id="not-found-heading">Page not found</h1>
      <p>
        This address names no page of the dashboard. Go to the <a href="#/tasks">task list</a>.
      </p>
    </section>
  );
}

function KeyForm({ apiKey, onChange }: { apiKey: string | null; onChange(key: string | null): void }) {
  const [draft, setDraft] = useState('');
  if (apiKey) {
    return (
      <div className="key-form">
        <span>API key …{apiKey.slice(-4)}</span>
        <button type="button" onClick={() => onChange(null)}>
          Forget key
        </button>
      </div>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (draft.trim()) onChange(draft.trim());
    setDraft('');
  };
  return (
    <form className="key-form" onSubmit={submit}>
      <label htmlFor="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autoComplete="off"
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
        required
      />
      <button type="submit" className="primary">
        Use key
      </button>
    </form>
  );
}
