import type { Breaker, BreakerAction, BreakerDetail } from '@switchyard/client';
import { useState } from 'react';
import { callApi, segment } from '../api.ts';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { JsonBlock } from '../components/json-block.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { formatDuration, formatRate, formatTime, shortId } from '../format.ts';
import { href } from '../route.ts';
import { useApi } from '../use-api.ts';
import { LimitsPanel } from './limits-panel.tsx';

const POLL_MS = 2_000;
const ACTIONS: { action: BreakerAction; label: string; effect: string }[] = [
  {
    action: 'open',
    label: 'Force open',
    effect: 'No step of this system will be called until it is closed or reset.',
  },
  {
    action: 'close',
    label: 'Force close',
    effect: 'Calls resume whatever the failure history says, until reset.',
  },
  {
    action: 'reset',
    label: 'Reset',
    effect: 'The breaker closes and the attempt history decides its state again.',
  },
];

/** Every dependent system's breaker, and the selected one's history, held steps and overrides. */
export function BreakersPage({ system }: { system: string | undefined }) {
  const list = useApi('breakers', () => callApi<{ breakers: Breaker[] }>('GET', '/v1/breakers'), POLL_MS);
  const selected = system ?? list.data?.breakers[0]?.dependentSystem;
  return (
    <section aria-labelledby="breakers-heading">
      <h1 id="breakers-heading">Circuit breakers</h1>
      <ErrorNote error={list.error} />
      {list.data && list.data.breakers.length === 0 && <p>No dependent system has a breaker yet.</p>}
      {list.data && list.data.breakers.length > 0 && (
        <BreakerTable breakers={list.data.breakers} selected={selected} />
      )}
      <LimitsPanel />
      {selected && <BreakerDetailView key={selected} system={selected} onChanged={list.reload} />}
    </section>
  );
}

function BreakerTable({ breakers, selected }: { breakers: Breaker[]; selected: string | undefined }) {
  return (
    <table className="data">
      <caption className="visually-hidden">Breakers by dependent system</caption>
      <thead>
        <tr>
          <th scope="col">Dependent system</th>
          <th scope="col">State</th>
          <th scope="col">Failure rate</th>
          <th scope="col">Calls / failures (window)</th>
          <th scope="col">Held steps</th>
          <th scope="col">Probes</th>
          <th scope="col">Trips</th>
          <th scope="col">Since</th>
          <th scope="col">Next probe</th>
        </tr>
      </thead>
      <tbody>
        {breakers.map((breaker) => (
          <tr
            key={breaker.dependentSystem}
            aria-current={breaker.dependentSystem === selected ? 'true' : undefined}
          >
            <th scope="row">
              <a href={href({ page: 'breakers', system: breaker.dependentSystem })}>
                {breaker.dependentSystem}
              </a>
            </th>
            <td data-testid={`breaker-state-${breaker.dependentSystem}`}>
              <StatusBadge status={breaker.state} />
              {breaker.forced ? ` (forced ${breaker.forced})` : ''}
            </td>
            <td>{formatRate(breaker.recent.failures, breaker.recent.calls)}</td>
            <td>
              {breaker.recent.calls} / {breaker.recent.failures} in {formatDuration(breaker.recent.windowMs)}
            </td>
            <td>{breaker.heldSteps}</td>
            <td>{breaker.probesInFlight}</td>
            <td>{breaker.tripCount}</td>
            <td>{formatTime(breaker.since)}</td>
            <td>{formatTime(breaker.nextProbeAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BreakerDetailView({ system, onChanged }: { system: string; onChanged(): void }) {
  const path = `/v1/breakers/${segment(system)}`;
  const detail = useApi(path, () => callApi<BreakerDetail>('GET', path), POLL_MS);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const ask = (action: (typeof ACTIONS)[number]) =>
    setConfirm({
      title: `${action.label}: ${system}?`,
      message: action.effect,
      confirmLabel: action.label,
      reason: 'required',
      onConfirm: async ({ reason }) => {
        await callApi('POST', `${path}/${action.action}`, { reason });
        detail.reload();
        onChanged();
      },
    });
  return (
    <section aria-labelledby="breaker-detail-heading" className="panel">
      <h2 id="breaker-detail-heading">{system}</h2>
      <ErrorNote error={detail.error} />
      <fieldset className="toolbar">
        <legend className="visually-hidden">Override the {system} breaker</legend>
        {ACTIONS.map((action) => (
          <button type="button" key={action.action} onClick={() => ask(action)}>
            {action.label}…
          </button>
        ))}
      </fieldset>
      {detail.data && (
        <>
          <h3>Transitions (newest first)</h3>
          <TransitionTable detail={detail.data} />
          <h3>Held steps</h3>
          <HeldStepTable detail={detail.data} />
        </>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}

function TransitionTable({ detail }: { detail: BreakerDetail }) {
  if (detail.transitions.length === 0) return <p>This breaker has never changed state.</p>;
  return (
    <table className="data" data-testid="breaker-transitions">
      <thead>
        <tr>
          <th scope="col">At</th>
          <th scope="col">Change</th>
          <th scope="col">Reason</th>
          <th scope="col">By</th>
          <th scope="col">Evidence</th>
        </tr>
      </thead>
      <tbody>
        {detail.transitions.map((transition) => (
          <tr key={transition.id}>
            <td>{formatTime(transition.at)}</td>
            <td>
              {transition.from ?? '—'} → {transition.to}
            </td>
            <td className="wrap">{transition.reason}</td>
            <td>{transition.actor}</td>
            <td>
              <details>
                <summary>Evidence</summary>
                <JsonBlock value={transition.evidence} label={`Evidence of the change at ${transition.at}`} />
              </details>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function HeldStepTable({ detail }: { detail: BreakerDetail }) {
  if (detail.heldSteps.length === 0) return <p>No step is held.</p>;
  return (
    <table className="data">
      <thead>
        <tr>
          <th scope="col">Task</th>
          <th scope="col">Step</th>
          <th scope="col">Attempts</th>
          <th scope="col">Hold</th>
          <th scope="col">Held since</th>
        </tr>
      </thead>
      <tbody>
        {detail.heldSteps.map((held) => (
          <tr key={`${held.taskId}-${held.step}`}>
            <td>
              <a href={href({ page: 'task', id: held.taskId })} aria-label={`Task ${held.taskId}`}>
                <code>{shortId(held.taskId)}</code>
              </a>{' '}
              ({held.namespace})
            </td>
            <td>{held.step}</td>
            <td>{held.attempts}</td>
            <td className="wrap">
              {held.holdReason ?? '—'}
              {held.holdUntil ? ` until ${formatTime(held.holdUntil)}` : ''}
            </td>
            <td>{formatTime(held.heldSince)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
