import type { FastifyInstance } from 'fastify';

/**
 * A self-contained reference page: it fetches /openapi.json and renders every operation with
 * its parameters, body and responses. No CDN and no bundle, so it works offline and behind
 * strict egress rules.
 */
const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 2rem;color:#1c1c1c}
 h1{margin-bottom:0} .op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
 .m{font-weight:700;display:inline-block;min-width:4rem} .GET{color:#1565c0} .POST{color:#2e7d32}
 code,pre{font:13px ui-monospace,monospace;background:#f5f5f5} pre{padding:.5rem;overflow:auto;max-height:20rem}
 details{margin:.25rem 0} nav a{margin-right:1rem}
</style></head>
<body><h1>Switchyard API</h1><p id="about"></p><nav id="tags"></nav><main id="ops">Loading /openapi.json…</main>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'})[c]);
const resolve = (doc, s) => s && s.$ref ? doc.components.schemas[s.$ref.split('/').pop()] : s;
const block = (title, value) => '<details><summary>' + esc(title) + '</summary><pre>' + esc(JSON.stringify(value, null, 2)) + '</pre></details>';
fetch('openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('about').textContent = doc.info.description || '';
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    let html = '<div class="op" id="' + esc(method + path) + '"><span class="m ' + method.toUpperCase() + '">' + method.toUpperCase() +
      '</span><code>' + esc(path) + '</code> — ' + esc(op.summary) + (op.description ? '<p>' + esc(op.description) + '</p>' : '');
    if (op.security && op.security.length) html += '<p>Needs an API key (Authorization: Bearer …).</p>';
    for (const p of op.parameters || []) html += '<div><code>' + esc(p.in + ' ' + p.name) + '</code>' + (p.required ? ' (required)' : '') + ' ' + esc(p.description) + '</div>';
    const body = op.requestBody && Object.values(op.requestBody.content)[0];
    if (body) html += block('Request body', resolve(doc, body.schema));
    for (const [status, res] of Object.entries(op.responses || {})) {
      const content = res.content && Object.values(res.content)[0];
      html += block(status + ' ' + (res.description || ''), content ? resolve(doc, content.schema) : {});
    }
    ops.push(html + '</div>');
  }
  document.getElementById('ops').innerHTML = ops.join('');
  if (doc.components && doc.components.schemas) document.getElementById('ops').innerHTML += '<h2>Schemas</h2>' +
    Object.entries(doc.components.schemas).map(([n, s]) => block(n, s)).join('');
}).catch((e) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
</script></body></html>`;

/** GET /openapi.json (OpenAPI 3.1, generated from the route schemas) and GET /docs. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html').send(DOCS_HTML),
  );
}
