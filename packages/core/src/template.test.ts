import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.ts';
import {
  defineTemplate,
  parseTemplate,
  parseTemplateYaml,
  stepOrder,
  templateBuilder,
  templateContentHash,
} from './template.ts';
import type { TaskTemplateInput } from './template-schema.ts';

const registrationYaml = `
namespace: accounts
name: user_registration
version: "1.2.0"
description: Registers a user across four services
default_dependent_system: user_service
identity_strategy: caller_key
context_schema:
  type: object
  required: [email, plan]
  properties:
    email: { type: string, format: email }
    plan: { enum: [free, pro] }
retry:
  max_attempts: 5
  backoff_base_ms: 500
steps:
  - name: create_user_account
    handler: users.create
  - name: setup_billing_profile
    depends_on: [create_user_account]
    dependent_system: billing_service
    retry: { backoff_cap_ms: 120000, jitter: false }
    timeout_ms: 10000
    handler_config: { skip_plans: [free] }
  - name: initialize_preferences
    depends_on: [create_user_account]
    dependent_system: preferences_service
  - name: send_welcome_sequence
    depends_on: [setup_billing_profile, initialize_preferences]
    dependent_system: notification_service
    retry: { max_attempts: 2 }
  - name: update_user_status
    depends_on: [send_welcome_sequence]
`;

const head = {
  namespace: 'accounts',
  name: 'user_registration',
  version: '1.2.0',
  description: 'Registers a user across four services',
  default_dependent_system: 'user_service',
  identity_strategy: 'caller_key',
  context_schema: {
    type: 'object',
    required: ['email', 'plan'],
    properties: { email: { type: 'string', format: 'email' }, plan: { enum: ['free', 'pro'] } },
  },
  retry: { max_attempts: 5, backoff_base_ms: 500 },
} satisfies Omit<TaskTemplateInput, 'steps'>;

const minimal = { namespace: 'ns', name: 'tpl', version: '1.0.0', default_dependent_system: 'svc' };

function issuesOf(input: unknown) {
  try {
    parseTemplate(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues;
  }
  throw new Error('expected a ValidationError');
}

describe('YAML and the builders agree', () => {
  it('parses the same object from YAML, the fluent builder and defineTemplate', () => {
    const fromYaml = parseTemplateYaml(registrationYaml);
    const fromBuilder = templateBuilder(head)
      .step('create_user_account', { handler: 'users.create' })
      .step('setup_billing_profile', {
        depends_on: ['create_user_account'],
        dependent_system: 'billing_service',
        retry: { backoff_cap_ms: 120_000, jitter: false },
        timeout_ms: 10_000,
        handler_config: { skip_plans: ['free'] },
      })
      .step('initialize_preferences', {
        depends_on: ['create_user_account'],
        dependent_system: 'preferences_service',
      })
      .step('send_welcome_sequence', {
        depends_on: ['setup_billing_profile', 'initialize_preferences'],
        dependent_system: 'notification_service',
        retry: { max_attempts: 2 },
      })
      .step('update_user_status', { depends_on: ['send_welcome_sequence'] })
      .build();
    expect(fromBuilder).toEqual(fromYaml);
    expect(defineTemplate({ ...head, steps: fromYaml.steps })).toEqual(fromYaml);
    expect(templateContentHash(fromBuilder)).toBe(templateContentHash(fromYaml));
  });

  it('fills every default and merges retry policies field by field', () => {
    const t = parseTemplateYaml(registrationYaml);
    expect(t.retry).toEqual({ max_attempts: 5, backoff_base_ms: 500, backoff_cap_ms: 60_000, jitter: true });
    expect(t.steps[0]).toEqual({
      name: 'create_user_account',
      description: null,
      handler: 'users.create',
      depends_on: [],
      dependent_system: 'user_service',
      retry: t.retry,
      timeout_ms: 30_000,
      handler_config: {},
      on_breaker_open: 'wait',
    });
    expect(t.steps[1]!.retry).toEqual({
      max_attempts: 5,
      backoff_base_ms: 500,
      backoff_cap_ms: 120_000,
      jitter: false,
    });
    expect(t.steps[3]!.retry).toEqual({ ...t.retry, max_attempts: 2 });
    expect(t.steps[4]!.handler).toBe('update_user_status');
  });

  it('applies the global defaults to a minimal template', () => {
    expect(parseTemplate({ ...minimal, steps: [{ name: 'only' }] })).toEqual({
      ...minimal,
      description: null,
      identity_strategy: 'strict',
      context_schema: { type: 'object' },
      retry: { max_attempts: 3, backoff_base_ms: 1000, backoff_cap_ms: 60_000, jitter: true },
      steps: [
        {
          name: 'only',
          description: null,
          handler: 'only',
          depends_on: [],
          dependent_system: 'svc',
          retry: { max_attempts: 3, backoff_base_ms: 1000, backoff_cap_ms: 60_000, jitter: true },
          timeout_ms: 30_000,
          handler_config: {},
          on_breaker_open: 'wait',
        },
      ],
    });
  });

  it('is idempotent: a parsed template parses to itself (it is stored as JSON and read back)', () => {
    const t = parseTemplateYaml(registrationYaml);
    expect(parseTemplate(JSON.parse(JSON.stringify(t)))).toEqual(t);
  });

  it('builders are immutable', () => {
    const base = templateBuilder(minimal).step('a');
    expect(base.step('b').build().steps).toHaveLength(2);
    expect(base.build().steps).toHaveLength(1);
  });
});

describe('template validation', () => {
  it('reports every issue at once, with paths into the input', () => {
    const issues = issuesOf({
      namespace: 'Accounts',
      name: 'tpl',
      version: 'v1',
      colour: 'blue',
      steps: [
        { name: 'a', depends_on: ['ghost'] },
        { name: 'a' },
        { name: 'b', retries: 3, depends_on: ['b'] },
      ],
    });
    expect(issues.map(({ path, rule }) => `${path} ${rule}`)).toEqual([
      '/namespace pattern',
      '/version semver',
      '/steps/2/retries unknown_key',
      '/colour unknown_key',
      '/steps/1/name duplicate_step',
      '/steps/0/depends_on/0 unknown_dependency',
      '/steps/2/depends_on/0 cycle',
      '/steps/0/dependent_system required',
      '/steps/1/dependent_system required',
      '/steps/2/dependent_system required',
    ]);
  });

  it('names the cycle', () => {
    const issues = issuesOf({
      ...minimal,
      steps: [
        { name: 'a', depends_on: ['c'] },
        { name: 'b', depends_on: ['a'] },
        { name: 'c', depends_on: ['b'] },
      ],
    });
    expect(issues).toEqual([expect.objectContaining({ path: '/steps/0/depends_on', rule: 'cycle' })]);
    expect(issues[0]!.message).toContain('a -> c -> b -> a');
  });

  it('explains the name rule', () => {
    const [issue] = issuesOf({ ...minimal, steps: [{ name: 'Create User' }] });
    expect(issue).toMatchObject({ path: '/steps/0/name', rule: 'pattern' });
    expect(issue!.message).toContain('^[a-z][a-z0-9_.-]{0,99}$');
  });

  it('rejects versions that are not strict semver', () => {
    for (const version of ['1.0', 'v1.0.0', ' 1.0.0', 'latest']) {
      expect(issuesOf({ ...minimal, version, steps: [{ name: 'a' }] })).toEqual([
        expect.objectContaining({ path: '/version', rule: 'semver' }),
      ]);
    }
    expect(parseTemplate({ ...minimal, version: '2.0.0-rc.1', steps: [{ name: 'a' }] }).version).toBe(
      '2.0.0-rc.1',
    );
  });

  it("rejects a context schema ajv cannot compile, with ajv's message", () => {
    const [issue] = issuesOf({ ...minimal, context_schema: { type: 'objekt' }, steps: [{ name: 'a' }] });
    expect(issue).toMatchObject({ path: '/context_schema', rule: 'json_schema' });
    expect(issue!.message).toContain('schema is invalid');
  });

  it('checks backoff_cap_ms >= backoff_base_ms after merging', () => {
    expect(
      issuesOf({ ...minimal, retry: { backoff_base_ms: 5000, backoff_cap_ms: 10 }, steps: [{ name: 'a' }] }),
    ).toEqual([expect.objectContaining({ path: '/retry/backoff_cap_ms', rule: 'backoff_cap' })]);
    const inherited = {
      ...minimal,
      retry: { backoff_cap_ms: 2000 },
      steps: [{ name: 'a', retry: { backoff_base_ms: 3000 } }],
    };
    expect(issuesOf(inherited)).toEqual([
      expect.objectContaining({ path: '/steps/0/retry/backoff_cap_ms', rule: 'backoff_cap' }),
    ]);
  });

  it('checks numbers, enums and at least one step', () => {
    const issues = issuesOf({
      ...minimal,
      identity_strategy: 'sometimes',
      steps: [
        { name: 'a', timeout_ms: 0, retry: { max_attempts: 1.5 } },
        { name: 'b', retry: { max_attempts: 101 } },
      ],
    });
    expect(issues.map(({ path, rule }) => `${path} ${rule}`)).toEqual([
      '/identity_strategy enum',
      '/steps/0/retry/max_attempts integer',
      '/steps/0/timeout_ms minimum',
      '/steps/1/retry/max_attempts maximum',
    ]);
    expect(issuesOf({ ...minimal, steps: [] })).toEqual([
      expect.objectContaining({ path: '/steps', rule: 'minimum' }),
    ]);
  });

  it('uses a step dependent_system when the template has no default', () => {
    const t = parseTemplate({
      namespace: 'ns',
      name: 'tpl',
      version: '1.0.0',
      steps: [{ name: 'a', dependent_system: 'svc' }],
    });
    expect(t.default_dependent_system).toBeNull();
    expect(t.steps[0]!.dependent_system).toBe('svc');
  });

  it('reports missing and mistyped fields', () => {
    expect(issuesOf({ name: 'tpl', version: 1.5, steps: 'a' })).toEqual([
      { path: '/namespace', rule: 'required', message: 'is required' },
      { path: '/version', rule: 'type', message: 'must be a string (got number; in YAML, quote it)' },
      { path: '/steps', rule: 'type', message: 'must be an array (got string)' },
    ]);
    expect(issuesOf(null)).toEqual([{ path: '', rule: 'type', message: 'must be an object (got null)' }]);
  });

  it('turns YAML syntax errors into a yaml issue', () => {
    expect(() => parseTemplateYaml('steps: [a,\nname: : x')).toThrow(ValidationError);
    expect(() => parseTemplateYaml('name: a\nname: b\n')).toThrow(
      expect.objectContaining({
        issues: [{ path: '', rule: 'yaml', message: 'Map keys must be unique at line 2, column 1' }],
      }),
    );
  });
});

describe('stepOrder and templateContentHash', () => {
  it('orders steps topologically', () => {
    expect(stepOrder(parseTemplateYaml(registrationYaml))).toEqual([
      'create_user_account',
      'setup_billing_profile',
      'initialize_preferences',
      'send_welcome_sequence',
      'update_user_status',
    ]);
  });

  it('hashes content, not key order', () => {
    const t = parseTemplateYaml(registrationYaml);
    const reordered = Object.fromEntries(Object.entries(t).reverse()) as typeof t;
    expect(templateContentHash(reordered)).toBe(templateContentHash(t));
    expect(templateContentHash(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(templateContentHash({ ...t, version: '1.2.1' })).not.toBe(templateContentHash(t));
  });
});
