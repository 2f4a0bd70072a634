import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.ts';
import { defineTemplate } from './template.ts';
import type { StepTemplateInput } from './template-schema.ts';

const head = { namespace: 'ns', name: 'import', version: '1.0.0', default_dependent_system: 'svc' };

function issuesOf(steps: StepTemplateInput[]) {
  try {
    defineTemplate({ ...head, steps });
  } catch (err) {
    if (err instanceof ValidationError) return err.issues;
    throw err;
  }
  return [];
}

describe('batch steps in templates', () => {
  it('keeps the types of a batchable step and its worker, and omits type on ordinary steps', () => {
    const template = defineTemplate({
      ...head,
      steps: [
        { name: 'plan', type: 'batchable' },
        {
          name: 'work',
          type: 'batch_worker',
          depends_on: ['plan'],
          handler: 'import_rows',
          timeout_ms: 5000,
        },
        { name: 'report', depends_on: ['work'] },
      ],
    });
    expect(template.steps.map((step) => step.type)).toEqual(['batchable', 'batch_worker', undefined]);
    expect('type' in template.steps[2]!).toBe(false);
    expect(template.steps[1]).toMatchObject({
      handler: 'import_rows',
      timeout_ms: 5000,
      dependent_system: 'svc',
    });
  });

  it('refuses a batch_worker that does not depend on exactly one batchable step', () => {
    expect(
      issuesOf([
        { name: 'plan', type: 'batchable' },
        { name: 'work', type: 'batch_worker', depends_on: ['plan'] },
        { name: 'other', type: 'batch_worker', depends_on: ['plan', 'work'] },
        { name: 'orphan', type: 'batch_worker' },
      ]),
    ).toEqual([
      {
        path: '/steps/0/type',
        rule: 'batchable_worker',
        message: 'a batchable step has exactly one batch_worker step ("work", "other" depend on it)',
      },
      {
        path: '/steps/2/depends_on',
        rule: 'batch_worker_parent',
        message:
          'a batch_worker must depend on exactly one step, of type batchable (it depends on "plan", "work")',
      },
      {
        path: '/steps/3/depends_on',
        rule: 'batch_worker_parent',
        message: 'a batch_worker must depend on exactly one step, of type batchable (it depends on nothing)',
      },
    ]);
  });

  it('refuses a batchable step without a worker, and a worker under an ordinary step', () => {
    expect(
      issuesOf([
        { name: 'plan', type: 'batchable' },
        { name: 'plain' },
        { name: 'work', type: 'batch_worker', depends_on: ['plain'] },
      ]).map((issue) => [issue.path, issue.rule]),
    ).toEqual([
      ['/steps/0/type', 'batchable_worker'],
      ['/steps/2/depends_on', 'batch_worker_parent'],
    ]);
  });

  it('refuses an unknown type, naming the allowed values', () => {
    const [issue, ...rest] = issuesOf([{ name: 'a', type: 'fan_out' as never }]);
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({ path: '/steps/0/type', rule: 'enum' });
    expect(issue!.message).toMatch(/^must be one of .*"batchable", "batch_worker"/);
  });
});
