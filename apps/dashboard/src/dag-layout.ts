/**
 * Lays a workflow's DAG out in columns by depth: a step's column is one more than its deepest
 * parent's, so every edge points right. Rows within a column keep template order. Pure, so
 * the drawing is tested without a browser.
 */

export type DagNodeInput = { name: string; dependsOn: readonly string[] };

export type PlacedNode = { name: string; depth: number; row: number; x: number; y: number };
export type PlacedEdge = { from: string; to: string };
export type DagLayout = { nodes: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number };

/** Size of a node box and the gaps between them, in SVG units. */
export const NODE = { width: 180, height: 52, columnGap: 60, rowGap: 18, margin: 12 } as const;

/** Depth of every step: 0 for roots, else 1 + the deepest parent (unknown parents are ignored). */
export function stepDepths(steps: readonly DagNodeInput[]): Map<string, number> {
  const byName = new Map(steps.map((step) => [step.name, step]));
  const depths = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (name: string): number => {
    const known = depths.get(name);
    if (known !== undefined) return known;
    // Templates are checked to be acyclic; the guard only keeps a bad input from recursing forever.
    if (visiting.has(name)) return 0;
    visiting.add(name);
    const parents = (byName.get(name)?.dependsOn ?? []).filter((parent) => byName.has(parent));
    const depth = parents.length === 0 ? 0 : 1 + Math.max(...parents.map(depthOf));
    visiting.delete(name);
    depths.set(name, depth);
    return depth;
  };
  for (const step of steps) depthOf(step.name);
  return depths;
}

/** Positions of every node (top-left corner) and the edges between them. */
export function layoutDag(steps: readonly DagNodeInput[]): DagLayout {
  const depths = stepDepths(steps);
  const rowsUsed = new Map<number, number>();
  const nodes = steps.map((step) => {
    const depth = depths.get(step.name) ?? 0;
    const row = rowsUsed.get(depth) ?? 0;
    rowsUsed.set(depth, row + 1);
    return {
      name: step.name,
      depth,
      row,
      x: NODE.margin + depth * (NODE.width + NODE.columnGap),
      y: NODE.margin + row * (NODE.height + NODE.rowGap),
    };
  });
  const names = new Set(steps.map((step) => step.name));
  const edges = steps.flatMap((step) =>
    step.dependsOn.filter((parent) => names.has(parent)).map((parent) => ({ from: parent, to: step.name })),
  );
  const columns = Math.max(0, ...nodes.map((node) => node.depth + 1));
  const rows = Math.max(0, ...rowsUsed.values());
  return {
    nodes,
    edges,
    width: NODE.margin * 2 + columns * NODE.width + Math.max(0, columns - 1) * NODE.columnGap,
    height: NODE.margin * 2 + rows * NODE.height + Math.max(0, rows - 1) * NODE.rowGap,
  };
}
