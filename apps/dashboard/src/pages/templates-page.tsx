import type { TemplateDetail, TemplateSummary } from '@switchyard/client';
import { useId, useState } from 'react';
import { callApi, segment } from '../api.ts';
import { DagView, focusStepRow } from '../components/dag-view.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { JsonBlock } from '../components/json-block.tsx';
import { formatDuration, formatTime } from '../format.ts';
import { href } from '../route.ts';
import { useApi } from '../use-api.ts';

/** Registered templates; the selected one's versions with their DAG and context schema. */
export function TemplatesPage({
  namespace,
  name,
}: {
  namespace: string | undefined;
  name: string | undefined;
}) {
  const list = useApi('templates', () => callApi<{ templates: TemplateSummary[] }>('GET', '/v1/templates'));
  const first = list.data?.templates[0];
  const selected = namespace && name ? { namespace, name } : first;
  return (
    <section aria-labelledby="templates-heading">
      <h1 id="templates-heading">Templates</h1>
      <ErrorNote error={list.error} />
      {list.data && list.data.templates.length === 0 && <p>No template is registered.</p>}
      <div className="split">
        <nav aria-label="Templates" className="side-list">
          <ul>
            {list.data?.templates.map((template) => {
              const current = selected?.namespace === template.namespace && selected.name === template.name;
              return (
                <li key={`${template.namespace}/${template.name}`}>
                  <a
                    href={href({ page: 'templates', ...template })}
                    aria-current={current ? 'page' : undefined}
                  >
                    {template.namespace}/{template.name}
                  </a>{' '}
                  <span className="muted">
                    {template.versions.length} version(s), latest {template.latest}
                  </span>
                </li>
              );
            })}
          </ul>
        </nav>
        {selected && (
          <TemplateView
            key={`${selected.namespace}/${selected.name}`}
            namespace={selected.namespace}
            name={selected.name}
          />
        )}
      </div>
    </section>
  );
}

function TemplateView({ namespace, name }: { namespace: string; name: string }) {
  const path = `/v1/templates/${segment(namespace)}/${segment(name)}`;
  const detail = useApi(path, () => callApi<TemplateDetail>('GET', path));
  const [chosen, setChosen] = useState<string>();
  // The step picked in the DAG: its row in the steps table is highlighted.
  const [selectedStep, setSelectedStep] = useState<string>();
  const selectId = useId();
  const versions = detail.data?.versions ?? [];
  const version = versions.find((v) => v.version === chosen) ?? versions.at(-1);
  return (
    <section aria-labelledby="template-heading" className="panel grow">
      <h2 id="template-heading">
        {namespace}/{name}
      </h2>
      <ErrorNote error={detail.error} />
      {version && (
        <>
          <p>
            <label htmlFor={selectId}>Version </label>
            <select id={selectId} value={version.version} onChange={(event) => setChosen(event.target.value)}>
              {versions.map((v) => (
                <option key={v.version} value={v.version}>
                  {v.version}
                </option>
              ))}
            </select>{' '}
            <span className="muted">
              registered {formatTime(version.registeredAt)}, identity {version.identityStrategy}
            </span>
          </p>
          {version.description && <p>{version.description}</p>}
          <h3>Workflow</h3>
          <DagView
            label={`Steps of ${namespace}/${name}@${version.version}`}
            steps={version.steps.map((step) => ({ ...step, detail: step.dependentSystem }))}
            onSelect={(name) => {
              setSelectedStep(name);
              focusStepRow(name);
            }}
          />
          <table className="data">
            <caption>Steps</caption>
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Handler</th>
                <th scope="col">Depends on</th>
                <th scope="col">System</th>
                <th scope="col">Max attempts</th>
                <th scope="col">Timeout</th>
              </tr>
            </thead>
            <tbody>
              {version.steps.map((step) => (
                <tr
                  key={step.name}
                  data-step={step.name}
                  aria-current={step.name === selectedStep ? 'true' : undefined}
                >
                  {/* Focusable from script only: where a step picked in the DAG takes the focus. */}
                  <th scope="row" tabIndex={-1}>
                    {step.name}
                  </th>
                  <td>{step.handler}</td>
                  <td>{step.dependsOn.join(', ') || '—'}</td>
                  <td>{step.dependentSystem}</td>
                  <td>{step.maxAttempts}</td>
                  <td>{formatDuration(step.timeoutMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Context schema</h3>
          <JsonBlock value={version.contextSchema} label="Context schema" />
        </>
      )}
    </section>
  );
}
