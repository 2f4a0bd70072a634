import { describe, expect, it } from 'vitest';
import { checkChosen, type DecisionGraphStep, decide, parseDecision, planSkips } from './decisions.ts';
import { ValidationError } from './errors.ts';
import { parseTemplate } from './template.ts';

const base = { namespace: 'ns', name: 'flow', version: '1.0.0', default_dependent_system: 'svc' };

function issuesOf(steps: unknown[]) {
  try {
    parseTemplate({ ...base, steps });
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map(({ path, rule }) => `${path} ${rule}`);
    throw err;
  }
  return [];
}

describe('decision templates', () => {
  const branches = [
    { name: 'route', type: 'decision', decides: ['a', 'b'] },
    { name: 'a', depends_on: ['route'] },
    { name: 'b', depends_on: ['route'] },
    { name: 'join', depends_on: ['a', 'b'], convergence: 'deferred' },
  ];

  it('keeps type, decides and convergence: deferred on the resolved steps', () => {
    const template = parseTemplate({ ...base, steps: branches });
    expect(template.steps[0]).toMatchObject({ type: 'decision', decides: ['a', 'b'] });
    expect(template.steps[3]!.convergence).toBe('deferred');
  });

  it('omits the new keys when a template uses none of them (stored exactly as before)', () => {
    const template = parseTemplate({
      ...base,
      steps: [{ name: 'a' }, { name: 'b', depends_on: ['a'], convergence: 'all' }],
    });
    for (const step of template.steps) {
      expect(Object.keys(step)).not.toContain('type');
      expect(Object.keys(step)).not.toContain('decides');
      expect(Object.keys(step)).not.toContain('convergence');
    }
  });

  it('refuses a decided step that is unknown or does not depend on the decision', () => {
    const steps = [
      { name: 'route', type: 'decision', decides: ['a', 'nope', 'b'] },
      { name: 'a', depends_on: ['route'] },
      { name: 'b' },
    ];
    expect(issuesOf(steps)).toEqual([
      '/steps/0/decides/1 unknown_step',
      '/steps/0/decides/2 decides_not_child',
    ]);
  });

  it('requires a non-empty decides on a decision step, and only there', () => {
    expect(issuesOf([{ name: 'route', type: 'decision' }])).toEqual(['/steps/0/decides decides_required']);
    expect(issuesOf([{ name: 'route', type: 'decision', decides: [] }])).toEqual([
      '/steps/0/decides minimum',
    ]);
    expect(
      issuesOf([
        { name: 'x', decides: ['y'] },
        { name: 'y', depends_on: ['x'] },
      ]),
    ).toEqual(['/steps/0/decides decides_not_allowed']);
  });

  it('refuses a convergence that is not all or deferred, and a name listed twice', () => {
    expect(issuesOf([{ name: 'x', convergence: 'any' }])).toEqual(['/steps/0/convergence enum']);
    const twice = [
      { name: 'route', type: 'decision', decides: ['a', 'a'] },
      { name: 'a', depends_on: ['route'] },
    ];
    expect(issuesOf(twice)).toEqual(['/steps/0/decides/1 duplicate_decides']);
  });
});

describe('parseDecision', () => {
  const declared = ['provision_sso', 'send_invoice'];

  it('reads the chosen names; decide() builds that shape', () => {
    expect(parseDecision(decide(['provision_sso'], { plan: 'enterprise' }), declared)).toEqual({
      ok: true,
      chosen: ['provision_sso'],
    });
    expect(parseDecision({ activate: [] }, declared)).toEqual({ ok: true, chosen: [] });
  });

  it('refuses an undeclared name, naming it and the declared ones', () => {
    const parsed = parseDecision({ activate: ['provision_ssso'] }, declared);
    expect(parsed).toEqual({
      ok: false,
      message:
        'the decision chose "provision_ssso", not declared under decides (declared: provision_sso, send_invoice)',
    });
  });

  it('refuses results that are not a decision', () => {
    for (const results of [null, ['provision_sso'], { activate: 'provision_sso' }, { chosen: [] }]) {
      const parsed = parseDecision(results, declared);
      expect(parsed.ok).toBe(false);
      expect(!parsed.ok && parsed.message).toMatch(/returns \{ activate: \[\.\.\.\] \} naming any of/);
    }
    expect(checkChosen(['send_invoice', 'send_invoice'], declared)).toEqual({
      ok: false,
      message: 'the decision chose "send_invoice" twice',
    });
  });
});

describe('planSkips', () => {
  const step = (
    name: string,
    parents: string[],
    extra: Partial<DecisionGraphStep> = {},
  ): DecisionGraphStep => ({ name, status: 'pending', convergence: 'all', parents, ...extra });
  // route decides a or b; a ─► a2; b ─► b2; join (deferred) after a2 and b2; tail after join.
  const diamond = [
    step('route', [], { status: 'in_progress' }),
    step('a', ['route']),
    step('a2', ['a']),
    step('b', ['route']),
    step('b2', ['b']),
    step('join', ['a2', 'b2'], { convergence: 'deferred' }),
    step('tail', ['join']),
  ];

  it('skips the branch not chosen and its descendants, and leaves the deferred join waiting', () => {
    expect(planSkips(diamond, ['b'], 'route')).toEqual({
      skipped: [
        { name: 'b', reason: 'not chosen by decision route' },
        { name: 'b2', reason: 'parent b was skipped; it cannot run any more' },
      ],
      ready: [],
      pendingParents: [{ name: 'join', pendingParents: 1 }],
    });
  });

  it('skips a deferred join whose parents were all skipped, and what follows it', () => {
    const plan = planSkips(diamond, ['a', 'b'], 'route');
    expect(plan.skipped.map((s) => s.name)).toEqual(['a', 'b', 'a2', 'b2', 'join', 'tail']);
    expect(plan.skipped.find((s) => s.name === 'join')!.reason).toBe('every parent was skipped');
    expect(plan.ready).toEqual([]);
  });

  it('makes a deferred join ready when its last unsettled parent is skipped and another is satisfied', () => {
    const steps = [
      step('route', [], { status: 'in_progress' }),
      step('other', [], { status: 'complete' }),
      step('b', ['route']),
      step('join', ['other', 'b'], { convergence: 'deferred' }),
    ];
    expect(planSkips(steps, ['b'], 'route')).toMatchObject({ ready: ['join'], pendingParents: [] });
  });

  it('keeps a deferred join that also depends on the decision waiting for it when nothing is chosen', () => {
    const steps = [
      step('route', [], { status: 'in_progress' }),
      step('a', ['route']),
      step('join', ['route', 'a'], { convergence: 'deferred' }),
    ];
    expect(planSkips(steps, ['a'], 'route')).toEqual({
      skipped: [{ name: 'a', reason: 'not chosen by decision route' }],
      ready: [],
      pendingParents: [{ name: 'join', pendingParents: 1 }],
    });
  });

  it('leaves alone an unchosen step that is no longer pending (resolved by an operator)', () => {
    const steps = [
      step('route', [], { status: 'in_progress' }),
      step('a', ['route'], { status: 'resolved_manually' }),
      step('a2', ['a'], { status: 'enqueued' }),
    ];
    expect(planSkips(steps, ['a'], 'route')).toEqual({ skipped: [], ready: [], pendingParents: [] });
  });
});
