import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkComposePolicy, parseCompose, validateComposeSchema } from './compose.ts';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
type Doc = { services: Record<string, Record<string, unknown>> };

describe('infra/compose.yaml', () => {
  const doc = parseCompose(read('../compose.yaml')) as Doc;

  it('validates against the Compose Specification schema and the fleet rules', () => {
    expect(validateComposeSchema(doc)).toEqual([]);
    expect(checkComposePolicy(doc, { image: 'switchyard-example:dev' })).toEqual([]);
  });

  it('runs the whole fleet: health-checked stores, a one-shot migrate first, then the roles', () => {
    expect(Object.keys(doc.services).sort()).toEqual(
      [
        'api',
        'migrate',
        'postgres',
        'redis',
        'scheduler',
        'services',
        'worker-billing',
        'worker-default',
      ].sort(),
    );
    expect(doc.services.postgres?.healthcheck).toBeDefined();
    expect(doc.services.redis?.healthcheck).toBeDefined();
    expect(doc.services.migrate?.restart).toBe('no');
    for (const name of ['api', 'scheduler', 'worker-billing', 'worker-default']) {
      expect(doc.services[name]?.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
      });
    }
  });

  it('reports every mistake of a deliberately broken Compose file', () => {
    const broken = parseCompose(read('fixtures/broken-compose.yaml')) as Doc;
    expect(validateComposeSchema(broken)).toEqual(
      expect.arrayContaining([
        '/services/api/ports: must be array',
        '/services/postgres/healthcheck/interval: must match format "duration"',
        '/services/worker-b/deploy/replicas: must be integer',
      ]),
    );
    expect(checkComposePolicy(broken, { image: 'switchyard:dev' })).toEqual([
      'api: depends on unknown service postgress',
      'api: unknown role apy',
      'worker-a: stop_grace_period must be ≥ 25s',
      'worker-b: unknown variable SWITCHYARD_CONCURENCY',
      'worker-b: step type setup_billing_profile is already consumed by worker-a',
    ]);
  });
});
