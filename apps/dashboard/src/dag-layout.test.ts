import { describe, expect, it } from 'vitest';
import { layoutDag, NODE, stepDepths } from './dag-layout.ts';

const registration = [
  { name: 'create_user_account', dependsOn: [] },
  { name: 'setup_billing_profile', dependsOn: ['create_user_account'] },
  { name: 'initialize_preferences', dependsOn: ['create_user_account'] },
  { name: 'send_welcome_sequence', dependsOn: ['setup_billing_profile', 'initialize_preferences'] },
  { name: 'update_user_status', dependsOn: ['send_welcome_sequence'] },
];

describe('stepDepths', () => {
  it('puts each step one column after its deepest parent', () => {
    expect(Object.fromEntries(stepDepths(registration))).toEqual({
      create_user_account: 0,
      setup_billing_profile: 1,
      initialize_preferences: 1,
      send_welcome_sequence: 2,
      update_user_status: 3,
    });
  });

  it('uses the deepest parent when a step joins a short and a long branch', () => {
    const steps = [
      { name: 'a', dependsOn: [] },
      { name: 'b', dependsOn: ['a'] },
      { name: 'c', dependsOn: ['a', 'b'] },
    ];
    expect(stepDepths(steps).get('c')).toBe(2);
  });

  it('survives unknown parents and cycles instead of recursing forever', () => {
    const depths = stepDepths([
      { name: 'x', dependsOn: ['y', 'ghost'] },
      { name: 'y', dependsOn: ['x'] },
    ]);
    expect([...depths.keys()].sort()).toEqual(['x', 'y']);
  });
});

describe('layoutDag', () => {
  it('stacks the steps of a column in template order and sizes the drawing to fit', () => {
    const layout = layoutDag(registration);
    const billing = layout.nodes.find((node) => node.name === 'setup_billing_profile')!;
    const preferences = layout.nodes.find((node) => node.name === 'initialize_preferences')!;
    expect([billing.row, preferences.row]).toEqual([0, 1]);
    expect(billing.x).toBe(preferences.x);
    expect(preferences.y - billing.y).toBe(NODE.height + NODE.rowGap);
    expect(layout.edges).toHaveLength(5);
    expect(layout.width).toBe(NODE.margin * 2 + 4 * NODE.width + 3 * NODE.columnGap);
    expect(layout.height).toBe(NODE.margin * 2 + 2 * NODE.height + NODE.rowGap);
  });

  it('draws nothing for no steps', () => {
    expect(layoutDag([])).toMatchObject({ nodes: [], edges: [] });
  });
});
