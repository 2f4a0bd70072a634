import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EnvConfigError, envBoolean, envInt, envList, envNamespaceWeights, envUrl, parseEnv } from './env.ts';
import { prefixHasHashTag } from './rules.ts';
import { commonEnvShape } from './shapes.ts';

/** Parses one variable `V` with `schema`. */
function parseOne<S extends z.ZodType>(schema: S, value: string | undefined): z.output<S> {
  return (parseEnv(z.object({ V: schema }), { V: value }) as { V: z.output<S> }).V;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EnvConfigError);
    return (err as EnvConfigError).problems.map((problem) => `${problem.variable}: ${problem.rule}`);
  }
  throw new Error('expected an EnvConfigError');
}

describe('envBoolean', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['Yes', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['NO', false],
    [' no ', false],
  ])('reads %j as %s', (value, expected) => {
    expect(parseOne(envBoolean(!expected), value)).toBe(expected);
  });

  it('uses the default when the variable is absent or empty', () => {
    expect(parseOne(envBoolean(true), undefined)).toBe(true);
    expect(parseOne(envBoolean(false), '')).toBe(false);
  });

  it('refuses anything else, naming the accepted values', () => {
    expect(problemsOf(() => parseOne(envBoolean(false), 'flase'))).toEqual([
      'V: must be one of true, 1, yes, false, 0, no (any case), got "flase"',
    ]);
    expect(problemsOf(() => parseOne(envBoolean(true), 'on'))).toHaveLength(1);
  });
});

describe('envInt', () => {
  const port = envInt({ min: 1, max: 65535, default: 8080 });

  it('reads integers within the bounds, and the default when not set', () => {
    expect(parseOne(port, '5432')).toBe(5432);
    expect(parseOne(port, ' 1 ')).toBe(1);
    expect(parseOne(port, undefined)).toBe(8080);
    expect(parseOne(port, '')).toBe(8080);
    expect(parseOne(envInt({ min: -5 }), '-3')).toBe(-3);
  });

  it.each(['0', '65536', '1.5', '10ms', '1e3', 'abc', '0x10'])('refuses %j', (value) => {
    expect(problemsOf(() => parseOne(port, value))).toEqual([
      `V: must be an integer between 1 and 65535, got ${JSON.stringify(value)}`,
    ]);
  });

  it('is required without a default', () => {
    expect(problemsOf(() => parseOne(envInt({ min: 1 }), undefined))).toEqual([
      'V: is required (an integer ≥ 1)',
    ]);
  });
});

describe('envList', () => {
  it('splits on commas, trims, and drops empty items', () => {
    expect(parseOne(envList(), ' a, b ,,c ,')).toEqual(['a', 'b', 'c']);
    expect(parseOne(envList(), 'single')).toEqual(['single']);
  });

  it('is empty when not set', () => {
    expect(parseOne(envList(), undefined)).toEqual([]);
    expect(parseOne(envList(), '  ')).toEqual([]);
  });
});

describe('envNamespaceWeights', () => {
  const schema = envNamespaceWeights();
  it('reads a JSON object of positive weights; not set means every namespace weighs 1', () => {
    expect(schema.parse('{"tenant_a":1,"tenant_b":3}')).toEqual({ tenant_a: 1, tenant_b: 3 });
    expect(schema.parse(undefined)).toEqual({});
    expect(schema.parse(' ')).toEqual({});
  });

  it.each(['{"a":0}', '{"a":-1}', '{"a":"2"}', '[1]', 'tenant_a=1', 'null'])('refuses %s', (value) => {
    expect(schema.safeParse(value).success).toBe(false);
  });
});

describe('envUrl', () => {
  it('accepts absolute URLs and falls back to the default', () => {
    expect(parseOne(envUrl(), 'postgresql://u:p@db:5432/app')).toBe('postgresql://u:p@db:5432/app');
    expect(parseOne(envUrl('redis://127.0.0.1:6379'), undefined)).toBe('redis://127.0.0.1:6379');
  });

  it('refuses other strings without echoing them (they may hold credentials)', () => {
    for (const value of ['db:5432', 'localhost:6379/secret', 'not a url', 'http://exa mple.com']) {
      expect(problemsOf(() => parseOne(envUrl(), value))).toEqual([
        'V: must be an absolute URL such as scheme://host:port/path',
      ]);
    }
  });

  it('is required without a default', () => {
    expect(problemsOf(() => parseOne(envUrl(), ''))).toEqual([
      'V: is required (a URL such as scheme://host:port/path)',
    ]);
  });
});

describe('parseEnv', () => {
  const schema = z.object({
    ...commonEnvShape,
    DEBUG: envBoolean(false),
    NAME: z.string().min(1),
  });

  it('returns typed values with defaults filled in', () => {
    const env = parseEnv(schema, { NAME: 'api', DEBUG: 'yes' });
    expect(env).toMatchObject({
      NAME: 'api',
      DEBUG: true,
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/switchyard',
      DATABASE_POOL_SIZE: 10,
      LOG_LEVEL: 'info',
    });
  });

  it('lists every bad variable in one ConfigError', () => {
    const env = { DATABASE_POOL_SIZE: '0', DEBUG: 'maybe', REDIS_URL: 'nope' };
    const error = (() => {
      try {
        parseEnv(schema, env);
      } catch (err) {
        return err as Error;
      }
    })();
    expect(error?.name).toBe('ConfigError');
    expect(error?.message).toBe(
      [
        'invalid configuration (4 problems):',
        '  DATABASE_POOL_SIZE: must be an integer between 1 and 200, got "0"',
        '  REDIS_URL: must be an absolute URL such as scheme://host:port/path',
        '  DEBUG: must be one of true, 1, yes, false, 0, no (any case), got "maybe"',
        '  NAME: is required',
      ].join('\n'),
    );
  });

  it('reports cross-field rules from superRefine under their variable', () => {
    const refined = z
      .object({ A: envInt({ default: 1 }), B: envInt({ default: 0 }) })
      .superRefine((env, ctx) => {
        if (env.B < env.A) ctx.addIssue({ code: 'custom', path: ['B'], message: 'must be at least A' });
      });
    expect(problemsOf(() => parseEnv(refined, { A: '5', B: '2' }))).toEqual(['B: must be at least A']);
  });

  it('refuses a queue prefix without a hash tag on Redis Cluster, and takes one with it', () => {
    expect(parseEnv(schema, { NAME: 'w' })).toMatchObject({
      REDIS_CLUSTER: false,
      SWITCHYARD_QUEUE_PREFIX: 'switchyard',
    });
    expect(problemsOf(() => parseEnv(schema, { NAME: 'w', REDIS_CLUSTER: 'true' }))).toEqual([
      'SWITCHYARD_QUEUE_PREFIX: must hold a hash tag such as {switchyard} when REDIS_CLUSTER is true (every key of a queue in one slot)',
    ]);
    const cluster = parseEnv(schema, {
      NAME: 'w',
      REDIS_CLUSTER: 'true',
      REDIS_URL: 'rediss://switchyard:s3cret@clustercfg.example.internal:6379',
      SWITCHYARD_QUEUE_PREFIX: '{switchyard}',
    });
    expect(cluster).toMatchObject({ REDIS_CLUSTER: true, SWITCHYARD_QUEUE_PREFIX: '{switchyard}' });
  });
});

describe('prefixHasHashTag', () => {
  it.each([
    ['{switchyard}', true],
    ['{switchyard}:eu', true],
    ['eu:{switchyard}', true],
    ['switchyard', false],
    ['{}switchyard', false],
    ['{switchyard', false],
    ['switchyard}', false],
    ['}{x}', true],
  ])('%s → %s', (prefix, expected) => {
    expect(prefixHasHashTag(prefix)).toBe(expected);
  });
});
