import { layoutDag, NODE } from '../dag-layout.ts';

export type DagStep = { name: string; dependsOn: readonly string[]; status?: string; detail?: string };

/**
 * A workflow's DAG as SVG, laid out by depth (dag-layout.ts). Each box names the step and,
 * when drawn for a task, its state in words as well as colour. Every box is a button of its
 * own: Tab reaches the steps in the order the flow reads (column by column, top to bottom),
 * each named "step: state", and Enter, Space or a click calls `onSelect` with the step, which
 * the pages use to show that step's row in their steps table.
 */
export function DagView({
  steps,
  label,
  onSelect,
}: {
  steps: readonly DagStep[];
  label: string;
  onSelect(name: string): void;
}) {
  const layout = layoutDag(steps);
  const byName = new Map(layout.nodes.map((node) => [node.name, node]));
  const statusOf = new Map(steps.map((step) => [step.name, step]));
  // Document order is the tab order: follow the columns rather than the template's step order.
  const readingOrder = [...layout.nodes].sort((a, b) => a.depth - b.depth || a.row - b.row);
  return (
    <div className="dag-scroll">
      {/* biome-ignore lint/a11y/useSemanticElements: a group, not an image (whose children assistive technology skips), so the step buttons inside are reachable; SVG has no <fieldset>. */}
      <svg
        role="group"
        aria-label={label}
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        className="dag"
      >
        <title>{label}</title>
        <defs>
          <marker
            id="dag-arrow"
            viewBox="0 0 10 10"
            refX="10"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" className="dag-arrow" />
          </marker>
        </defs>
        {layout.edges.map((edge) => {
          const from = byName.get(edge.from)!;
          const to = byName.get(edge.to)!;
          const x1 = from.x + NODE.width;
          const y1 = from.y + NODE.height / 2;
          const x2 = to.x;
          const y2 = to.y + NODE.height / 2;
          const bend = (x2 - x1) / 2;
          return (
            <path
              key={`${edge.from}->${edge.to}`}
              d={`M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`}
              className="dag-edge"
              markerEnd="url(#dag-arrow)"
            />
          );
        })}
        {readingOrder.map((node) => {
          const step = statusOf.get(node.name);
          const status = step?.status ?? 'template';
          const name = step?.status ? `${node.name}: ${step.status.replace(/_/g, ' ')}` : node.name;
          return (
            // biome-ignore lint/a11y/useSemanticElements: SVG has no <button>; a <g> with the button role is the focusable shape.
            <g
              key={node.name}
              transform={`translate(${node.x},${node.y})`}
              data-step={node.name}
              data-status={status}
              className="dag-step"
              role="button"
              tabIndex={0}
              aria-label={name}
              onClick={() => onSelect(node.name)}
              onKeyDown={(event) => {
                if (event.key !== 'Enter' && event.key !== ' ') return;
                // Space would otherwise scroll the page as well.
                event.preventDefault();
                onSelect(node.name);
              }}
            >
              {/* The full name on hover too: the box truncates long names. */}
              <title>{name}</title>
              {/* Drawn by CSS only while focused: an outline on an SVG <g> is not drawn everywhere. */}
              <rect
                x={-FOCUS_GAP}
                y={-FOCUS_GAP}
                width={NODE.width + 2 * FOCUS_GAP}
                height={NODE.height + 2 * FOCUS_GAP}
                rx="9"
                className="dag-focus-ring"
              />
              <rect width={NODE.width} height={NODE.height} rx="6" className={`dag-node status-${status}`} />
              <text x="10" y="21" className="dag-name">
                {truncate(node.name, 22)}
              </text>
              <text x="10" y="40" className="dag-status">
                {step?.status ? step.status.replace(/_/g, ' ') : (step?.detail ?? '')}
                {step?.status && step.detail ? ` · ${step.detail}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/**
 * Moves focus to the header cell of `name`'s row in the page's steps table (a `tr[data-step]`
 * whose `th` has tabIndex -1), which scrolls it into view: keyboard and screen reader users
 * land on the step they picked in the DAG, and Tab continues into that row's controls.
 */
export function focusStepRow(name: string): void {
  document.querySelector<HTMLElement>(`tr[data-step="${CSS.escape(name)}"] > th`)?.focus();
}

/** Space between a box and its focus ring; less than the layout's margin and gaps, so rings never overlap. */
const FOCUS_GAP = 5;

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
