/**
 * A status as text on a tinted background: the word carries the meaning (never the colour
 * alone), and each pair of colours keeps a contrast ratio above 4.5:1.
 */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status.replace(/_/g, ' ')}</span>;
}
