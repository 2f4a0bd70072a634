import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core';
import { createSwitchyardClient } from '@switchyard/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from './harness.ts';

type Response = { content?: Record<string, unknown>; headers?: Record<string, unknown> };
type Operation = {
  operationId?: string;
  security?: unknown[];
  requestBody?: unknown;
  responses: Record<string, Response>;
};
type Document = { paths: Record<string, Record<string, Operation>> };

let h: ApiHarness;
let served: Document;
beforeAll(async () => {
  h = await createApiHarness();
  served = (await h.call('GET', '/openapi.json', { key: '' })).body;
});
afterAll(() => h.close());

/** Redocly's `recommended` rules, plus its RFC 7807/9457 rule: every 4xx is problem+json with type and title. */
async function lint(document: unknown): Promise<NormalizedProblem[]> {
  const config = await createConfig({
    extends: ['recommended'],
    rules: { 'operation-4xx-problem-details-rfc7807': 'error' },
  });
  return lintFromString({ source: JSON.stringify(document), absoluteRef: 'openapi.json', config });
}

const summary = (problems: NormalizedProblem[], severity: string) =>
  problems
    .filter((p) => p.severity === severity)
    .map((p) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`);

function operations(document: Document): [string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
  );
}

/** What every operation must declare beyond what the linter checks; one line per breach. */
function contractBreaches(document: Document): string[] {
  const breaches: string[] = [];
  const ids = new Set<string>();
  for (const [route, op] of operations(document)) {
    if (!op.operationId || !/^[a-z][a-zA-Z]*$/.test(op.operationId)) breaches.push(`${route}: operationId`);
    if (op.operationId && ids.has(op.operationId)) breaches.push(`${route}: duplicate operationId`);
    if (op.operationId) ids.add(op.operationId);
    const statuses = Object.keys(op.responses);
    for (const status of statuses.filter((s) => Number(s) >= 400)) {
      const types = Object.keys(op.responses[status]?.content ?? {});
      if (types.join() !== 'application/problem+json') breaches.push(`${route} ${status}: ${types.join()}`);
    }
    const needs = [
      ...(op.security?.length ? ['401', '403', '503'] : []),
      ...(op.requestBody ? ['400', '413', '415'] : []),
    ];
    for (const status of needs.filter((s) => !statuses.includes(s))) breaches.push(`${route}: no ${status}`);
    if (op.responses['401'] && !op.responses['401'].headers?.['WWW-Authenticate'])
      breaches.push(`${route} 401: no WWW-Authenticate`);
  }
  return breaches;
}

describe('the served OpenAPI document', () => {
  it("lints clean with Redocly's recommended rules", async () => {
    const problems = await lint(served);
    expect(summary(problems, 'error')).toEqual([]);
    // The one warning left: the project declares no license, and the document does not invent one.
    expect(summary(problems, 'warn')).toEqual([
      'info-license #/info: Info object should contain `license` field.',
    ]);
  });

  it('names every operation, answers errors as problem+json, and challenges on 401', () => {
    expect(contractBreaches(served)).toEqual([]);
    expect(served).toMatchObject({
      servers: [{ url: '/' }],
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    });
  });

  it("uses the typed client's method names as operationIds", () => {
    const ids = operations(served).map(([, op]) => op.operationId);
    const client = createSwitchyardClient({ baseUrl: h.url });
    // waitForTask polls getTask; it is not an operation of its own.
    const methods = Object.keys(client).filter((name) => name !== 'waitForTask');
    expect(ids).toEqual(expect.arrayContaining(methods));
  });

  it('catches an operation without an operationId or an error that is not problem+json', async () => {
    const broken = structuredClone(served);
    delete broken.paths['/v1/tasks']!.post!.operationId;
    const notFound = broken.paths['/v1/tasks/{id}']!.get!.responses['404']!;
    notFound.content = { 'application/json': notFound.content?.['application/problem+json'] };
    expect(contractBreaches(broken)).toEqual([
      'POST /v1/tasks: operationId',
      'GET /v1/tasks/{id} 404: application/json',
    ]);
    const rules = (await lint(broken)).map((p) => p.ruleId);
    expect(rules).toContain('operation-operationId');
    expect(rules).toContain('operation-4xx-problem-details-rfc7807');
  });
});
