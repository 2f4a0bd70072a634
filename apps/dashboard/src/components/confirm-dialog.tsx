import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';

export type ConfirmRequest = {
  title: string;
  /** What will happen, in words an operator at 3 AM can check. */
  message: ReactNode;
  confirmLabel: string;
  /** Ask for a reason (audited); `required` refuses an empty one. */
  reason?: 'optional' | 'required';
  /** Ask for JSON (a resolved step's results). */
  json?: boolean;
  onConfirm(input: { reason?: string; json?: unknown }): Promise<void>;
};

/**
 * A modal confirmation on the native <dialog>: it traps focus, closes on Escape and hands
 * focus back to the button that opened it, with no code of ours to get wrong.
 */
export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest | null; onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [json, setJson] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const reasonId = useId();
  const jsonId = useId();
  const titleId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (request && !dialog.open) {
      setReason('');
      setJson('');
      setError(undefined);
      dialog.showModal();
    } else if (!request && dialog.open) dialog.close();
  }, [request]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!request) return;
    let parsed: unknown;
    if (request.json && json.trim() !== '') {
      try {
        parsed = JSON.parse(json);
      } catch {
        setError('The results are not valid JSON.');
        return;
      }
    }
    setBusy(true);
    try {
      await request.onConfirm({
        ...(reason.trim() ? { reason: reason.trim() } : {}),
        ...(parsed === undefined ? {} : { json: parsed }),
      });
      onClose();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose} className="confirm">
      {request && (
        <form onSubmit={submit}>
          <h2 id={titleId}>{request.title}</h2>
          <div className="confirm-message">{request.message}</div>
          {request.reason && (
            <p>
              <label htmlFor={reasonId}>Reason{request.reason === 'required' ? ' (required)' : ''}</label>
              <input
                id={reasonId}
                value={reason}
                onChange={(event) => setReason(event.target.value)}
                required={request.reason === 'required'}
                maxLength={1000}
              />
            </p>
          )}
          {request.json && (
            <p>
              <label htmlFor={jsonId}>Results (JSON, optional)</label>
              <textarea id={jsonId} value={json} onChange={(event) => setJson(event.target.value)} rows={4} />
            </p>
          )}
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
          <div className="confirm-actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="danger" disabled={busy}>
              {request.confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
