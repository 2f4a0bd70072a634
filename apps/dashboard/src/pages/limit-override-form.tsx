import type { ServiceLimit } from '@switchyard/client';
import { type FormEvent, useState } from 'react';
import { callApi, segment } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { describeLimit, draftFor, type LimitDraft, overrideBody } from '../limits.ts';

type Action = 'override' | 'reset';

/**
 * An operator's override of a system's limit, or its reset to the configured one, each with a
 * reason (audited by the API with the key). Needs a key with the `operate` scope that is not
 * restricted to namespaces; the API's refusal (a field it rejects, an unknown system, a weak
 * key) is shown as it answered.
 */
export function LimitOverrideForm({ limits, onChanged }: { limits: ServiceLimit[]; onChanged(): void }) {
  const [draft, setDraft] = useState<LimitDraft>(() => draftFor('', undefined));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [done, setDone] = useState<string>();

  // Picking a listed system fills in its limit in force, the starting point of an override.
  const pickSystem = (system: string) => {
    const current = limits.find((limit) => limit.dependentSystem === system);
    setDraft(current ? { ...draftFor(system, current), reason: draft.reason } : { ...draft, system });
  };
  const field = (name: Exclude<keyof LimitDraft, 'system'>) => ({
    id: `limit-${name}`,
    value: draft[name],
    onChange: (event: { target: { value: string } }) => setDraft({ ...draft, [name]: event.target.value }),
  });

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const action: Action = submitter?.value === 'reset' ? 'reset' : 'override';
    const path = `/v1/limits/${segment(draft.system.trim())}/${action}`;
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const body = action === 'reset' ? { reason: draft.reason.trim() } : overrideBody(draft);
      const limit = await callApi<ServiceLimit>('POST', path, body);
      setDone(
        `${action === 'reset' ? 'Override removed' : 'Override set'}. In force: ${describeLimit(limit)}`,
      );
      setDraft(draftFor(limit.dependentSystem, limit));
      onChanged();
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h3 id="limit-override-heading">Override a limit</h3>
      <form className="filters limit-form" onSubmit={submit} aria-labelledby="limit-override-heading">
        <div>
          <label htmlFor="limit-system">Dependent system</label>
          <input
            id="limit-system"
            list="limited-systems"
            value={draft.system}
            onChange={(event) => pickSystem(event.target.value)}
            required
          />
          <datalist id="limited-systems">
            {limits.map((limit) => (
              <option key={limit.dependentSystem} value={limit.dependentSystem} />
            ))}
          </datalist>
        </div>
        <div>
          <label htmlFor="limit-maxConcurrent">Max concurrent</label>
          <input type="number" step="1" placeholder="no limit" {...field('maxConcurrent')} />
        </div>
        <div>
          <label htmlFor="limit-rate">Rate (calls/s)</label>
          <input type="number" step="any" placeholder="no limit" {...field('rate')} />
        </div>
        <div>
          <label htmlFor="limit-burst">Burst</label>
          <input type="number" step="1" placeholder="ceil(rate)" {...field('burst')} />
        </div>
        <div>
          <label htmlFor="limit-reason">Reason (required, audited)</label>
          <input maxLength={1000} required {...field('reason')} />
        </div>
        <div className="filter-actions">
          <button type="submit" name="action" value="override" className="primary" disabled={busy}>
            Set override
          </button>
          <button type="submit" name="action" value="reset" disabled={busy}>
            Reset to configured
          </button>
        </div>
      </form>
      <p className="muted">A blank field is not limited. A raised limit starts waiting steps at once.</p>
      <ErrorNote error={error} />
      {done && (
        <p role="status" data-testid="limit-override-status">
          {done}
        </p>
      )}
    </>
  );
}
