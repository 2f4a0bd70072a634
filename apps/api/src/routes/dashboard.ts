import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import staticFiles from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Where the dashboard's build is: from the workspace's TypeScript sources, where
 * `pnpm dashboard:build` writes it (apps/dashboard/dist); in the published package, the `ui`
 * folder packed beside dist/ (dist/routes → package root).
 */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(
  import.meta.url.endsWith('.ts')
    ? new URL('../../../dashboard/dist', import.meta.url)
    : new URL('../../ui', import.meta.url),
);

const BUILD_COMMAND = 'pnpm dashboard:build';

/**
 * The dashboard's Content-Security-Policy. The build is one module script and one stylesheet
 * under /ui/assets, and the app talks only to this origin's API, so everything is 'self': no
 * inline script, eval or third-party origin can run in a page that holds an operator's key.
 * React's `style` props set element styles through the DOM, which style-src does not govern.
 * frame-ancestors 'none' (and X-Frame-Options for older browsers) keeps the page out of frames,
 * so its buttons (cancel, force a breaker) cannot be clickjacked.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every /ui response (pages, assets, redirects and the not-built page). */
export const DASHBOARD_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The operators' dashboard at /ui: the static build of apps/dashboard, which talks to this API
 * like any other client (with an API key the operator enters). Open: the files hold no data.
 * Without a build, /ui says which command makes one instead of a bare 404.
 */
export function dashboardRoutes(dashboardDir: string = DEFAULT_DASHBOARD_DIR) {
  return async (app: FastifyInstance) => {
    // Scoped to this plugin's routes: the API's JSON answers and /docs keep their own headers.
    app.addHook('onRequest', async (_request, reply) => {
      reply.headers(DASHBOARD_HEADERS);
    });
    if (!existsSync(join(dashboardDir, 'index.html'))) {
      app.get('/ui', { schema: { hide: true } }, async (_request, reply) => notBuilt(reply, dashboardDir));
      app.get('/ui/*', { schema: { hide: true } }, async (_request, reply) => notBuilt(reply, dashboardDir));
      return;
    }
    // /ui/, not /ui: the page's relative asset URLs must resolve under /ui/.
    app.get('/ui', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/', 301));
    await app.register(staticFiles, {
      root: dashboardDir,
      prefix: '/ui/',
      schemaHide: true,
      // Asset names carry a content hash, so they may be cached for good; index.html may not.
      setHeaders: (reply, path) => {
        reply.header(
          'cache-control',
          path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
        );
      },
    });
  };
}

function notBuilt(reply: FastifyReply, dir: string) {
  return reply
    .code(503)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchyard dashboard not built</title></head>` +
        `<body><h1>The dashboard is not built</h1><p>Build it with <code>${BUILD_COMMAND}</code> ` +
        `(it writes <code>${escapeHtml(dir)}</code>), then reload this page.</p></body></html>`,
    );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
