import { layoutDag, NODE } from '../dag-layout.ts';

export type DagStep = { name: string; dependsOn: readonly string[]; status?: string; detail?: string };

/**
 * A workflow's DAG as SVG, laid out by depth (dag-layout.ts). Each box names the step and,
 * when drawn for a task, its state in words as well as colour. The whole drawing is one image
 * with a text alternative listing every step and state; the steps table beside it is the
 * keyboard-reachable version.
 */
export function DagView({ steps, label }: { steps: readonly DagStep[]; label: string }) {
  const layout = layoutDag(steps);
  const byName = new Map(layout.nodes.map((node) => [node.name, node]));
  const statusOf = new Map(steps.map((step) => [step.name, step]));
  const description = steps
    .map((step) => `${step.name}${step.status ? `: ${step.status.replace(/_/g, ' ')}` : ''}`)
    .join('; ');
  return (
    <div className="dag-scroll">
      <svg
        role="img"
        aria-label={`${label}. ${description}`}
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
        {layout.nodes.map((node) => {
          const step = statusOf.get(node.name);
          const status = step?.status ?? 'template';
          return (
            <g
              key={node.name}
              transform={`translate(${node.x},${node.y})`}
              data-step={node.name}
              data-status={status}
            >
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

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
