/**
 * The OpenAPI document's options for @fastify/swagger: what every operation shares (servers,
 * the bearer scheme, the challenge on 401) is added here, once, rather than in each route.
 * The document lints clean with Redocly's `recommended` rules (see test/openapi-lint.int.test.ts).
 */
import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { WWW_AUTHENTICATE } from './problem.ts';

const SCHEMA_REF = '#/components/schemas/';

/** The swagger plugin's options: the document's header and the per-route and whole-document transforms. */
export function openapiOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchyard',
        version: '1.0.0',
        description:
          'Start workflows and operate them. Errors are application/problem+json (RFC 9457); validation problems list each failing field.',
      },
      // Relative: the document is served by the API it describes, wherever that is reached.
      servers: [{ url: '/', description: 'the API serving this document' }],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key made with `switchyard keys create`',
          },
        },
      },
    },
    transform: (input) => withSecurity(jsonSchemaTransform(input), input.route.config?.scope),
    transformObject: (input) => pruneUnusedSchemas(jsonSchemaTransformObject(input)),
  };
}

type RouteSchema = { hide?: boolean; response?: Record<string, Record<string, unknown>> };

/**
 * A route with a scope needs the bearer key; one without says so with an empty requirement
 * (rather than saying nothing, which reads as "unspecified"). Every 401 names its challenge.
 */
function withSecurity<T extends { schema: object }>(result: T, scope: string | undefined): T {
  const schema = result.schema as RouteSchema;
  if (schema.hide) return result;
  const response = schema.response?.[401]
    ? { ...schema.response, 401: { ...schema.response[401], headers: { 'WWW-Authenticate': challenge } } }
    : schema.response;
  const security = scope ? { security: [{ apiKey: [] }], 'x-scope': scope } : { security: [] };
  return { ...result, schema: { ...result.schema, ...security, ...(response ? { response } : {}) } };
}

const challenge = {
  type: 'string',
  description: `The authentication scheme to answer with: \`${WWW_AUTHENTICATE}\``,
};

/**
 * Drops the component schemas no operation refers to, directly or through another schema: the
 * zod registry yields an input and an output variant of every named schema, and most routes use
 * only one of them.
 */
export function pruneUnusedSchemas<T>(document: T): T {
  const doc = document as { paths?: unknown; components?: { schemas?: Record<string, unknown> } };
  const schemas = doc.components?.schemas ?? {};
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key !== '$ref' || typeof value !== 'string') visit(value);
      else if (value.startsWith(SCHEMA_REF) && !used.has(value.slice(SCHEMA_REF.length))) {
        used.add(value.slice(SCHEMA_REF.length));
        visit(schemas[value.slice(SCHEMA_REF.length)]);
      }
    }
  };
  visit(doc.paths);
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...doc, components: { ...doc.components, schemas: kept } } as T;
}
