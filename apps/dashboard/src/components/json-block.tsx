/**
 * JSON as the API returned it (secrets already redacted by the server), in a named region;
 * a long document scrolls inside it (browsers let the keyboard focus scrollable regions).
 */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <section className="json" aria-label={label}>
      <pre>{value === undefined || value === null ? '—' : JSON.stringify(value, null, 2)}</pre>
    </section>
  );
}
