import { TemplateDetailSchema, TemplateListSchema, type TemplateSummary } from '@switchyard/client';
import { NotFoundError, type TaskTemplate } from '@switchyard/core';
import { listTemplateVersions, type TemplateVersionView } from '@switchyard/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import semver from 'semver';
import { z } from 'zod';
import { assertNamespace } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { problems } from '../problem.ts';
import { wire } from '../wire.ts';

const TemplateParams = z.strictObject({
  namespace: z.string().min(1).max(100),
  name: z.string().min(1).max(100),
});

/** Template routes: what is registered, and one template's versions with steps and schema. */
export function templateRoutes(deps: ApiDeps) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/v1/templates',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'listTemplates',
          tags: ['templates'],
          summary: 'Registered templates and their versions',
          response: { 200: TemplateListSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const namespaces = request.principal.namespaces ?? undefined;
        const versions = await listTemplateVersions(deps.pool, namespaces ? { namespaces } : {});
        return wire(TemplateListSchema, { templates: summarize(versions) });
      },
    );
    app.get(
      '/v1/templates/:namespace/:name',
      {
        config: { scope: 'tasks:read' },
        schema: {
          operationId: 'getTemplate',
          tags: ['templates'],
          summary: "One template's versions, with their steps and context schema",
          params: TemplateParams,
          response: { 200: TemplateDetailSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { namespace, name } = request.params;
        assertNamespace(request.principal, namespace);
        const versions = await listTemplateVersions(deps.pool, { namespace, name });
        if (versions.length === 0)
          throw await unknownTemplate(deps, `${namespace}/${name}`, request.principal.namespaces);
        return wire(TemplateDetailSchema, { namespace, name, versions: versions.map(versionDetail) });
      },
    );
  };
}

/** Newest release first; a release ranks above its prereleases (as findTemplate decides "latest"). */
function byVersionDescending(a: string, b: string): number {
  return semver.valid(a) && semver.valid(b) ? semver.rcompare(a, b) : b.localeCompare(a);
}

function summarize(versions: TemplateVersionView[]): TemplateSummary[] {
  const groups = new Map<string, TemplateVersionView[]>();
  for (const view of versions) {
    const key = `${view.namespace}/${view.name}`;
    groups.set(key, [...(groups.get(key) ?? []), view]);
  }
  return [...groups.values()].map((group) => {
    const sorted = group.map((v) => v.version).sort(byVersionDescending);
    const latest = group.find((v) => v.version === sorted[0])!;
    return {
      namespace: latest.namespace,
      name: latest.name,
      versions: sorted,
      latest: latest.version,
      description: latest.description,
    };
  });
}

function versionDetail(view: TemplateVersionView) {
  const template = view.definition as TaskTemplate;
  return {
    version: view.version,
    description: view.description,
    registeredAt: view.createdAt,
    identityStrategy: template.identity_strategy,
    contextSchema: template.context_schema,
    steps: template.steps.map((step) => ({
      name: step.name,
      handler: step.handler,
      dependsOn: step.depends_on,
      dependentSystem: step.dependent_system,
      maxAttempts: step.retry.max_attempts,
      timeoutMs: step.timeout_ms,
    })),
  };
}

async function unknownTemplate(deps: ApiDeps, wanted: string, namespaces: readonly string[] | null) {
  const visible = await listTemplateVersions(deps.pool, namespaces ? { namespaces } : {});
  const known = [...new Set(visible.map((v) => `${v.namespace}/${v.name}`))];
  return new NotFoundError(`unknown template ${wanted}; registered: ${known.join(', ') || 'none'}`);
}
