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
 * The operators' dashboard at /ui: the static build of apps/dashboard, which talks to this API
 * like any other client (with an API key the operator enters). Open: the files hold no data.
 * Without a build, /ui says which command makes one instead of a bare 404.
 */
export function dashboardRoutes(dashboardDir: string = DEFAULT_DASHBOARD_DIR) {
  return async (app: FastifyInstance) => {
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
