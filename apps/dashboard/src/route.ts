import { useEffect, useState } from 'react';

/** Where the dashboard is: the part of the URL after `#`, so the API serves one static page. */
export type Route =
  | { page: 'tasks' }
  | { page: 'task'; id: string }
  | { page: 'breakers'; system?: string }
  | { page: 'templates'; namespace?: string; name?: string }
  | { page: 'queues' }
  | { page: 'schedules' }
  /** A hash that cannot be read (a malformed percent-encoding such as `%E0%A4%A`). */
  | { page: 'not_found'; hash: string };

/**
 * The route a hash names; an unknown page is the task list, a hash that does not decode is
 * not found (decodeURIComponent throws on it, which would leave the page blank).
 */
export function parseRoute(hash: string): Route {
  const parts = decodeParts(hash.replace(/^#\/?/, '').split('/').filter(Boolean));
  if (!parts) return { page: 'not_found', hash };
  const [page, a, b] = parts;
  if (page === 'tasks' && a) return { page: 'task', id: a };
  if (page === 'breakers') return a ? { page: 'breakers', system: a } : { page: 'breakers' };
  if (page === 'templates')
    return a && b ? { page: 'templates', namespace: a, name: b } : { page: 'templates' };
  if (page === 'queues') return { page: 'queues' };
  if (page === 'schedules') return { page: 'schedules' };
  return { page: 'tasks' };
}

function decodeParts(parts: string[]): string[] | null {
  try {
    return parts.map(decodeURIComponent);
  } catch {
    return null;
  }
}

/** The hash of a route, for links. */
export function href(route: Route): string {
  const enc = encodeURIComponent;
  switch (route.page) {
    case 'task':
      return `#/tasks/${enc(route.id)}`;
    case 'breakers':
      return route.system ? `#/breakers/${enc(route.system)}` : '#/breakers';
    case 'templates':
      return route.namespace && route.name
        ? `#/templates/${enc(route.namespace)}/${enc(route.name)}`
        : '#/templates';
    case 'not_found':
      return route.hash;
    default:
      return `#/${route.page}`;
  }
}

/** The current route, updated on navigation. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
