/**
 * Human output: aligned tables and a task view. Every command also has `--json`, which prints
 * the API's (or the database's) object as is, for scripts.
 */
import type { Breaker, Step, Task, TaskSummary, TemplateSummary } from '@switchyard/client';

/** Where a command writes; the main passes stdout and stderr, tests capture them. */
export type Io = { out(text: string): void; err(text: string): void };

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

export function when(iso: string | null): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

function lastErrorText(step: Step): string {
  const error = step.lastError as { message?: string; code?: string } | null;
  if (!error) return '';
  return [error.code, error.message].filter(Boolean).join(': ').slice(0, 120);
}

function stepNote(step: Step): string {
  if (step.status === 'held') return `held: ${step.holdReason ?? ''} until ${when(step.holdUntil)}`;
  if (step.status === 'waiting_retry') return `next attempt ${when(step.nextAttemptAt)}`;
  if (step.status === 'enqueued' && step.attempts === 0 && step.nextAttemptAt)
    return `starts ${when(step.nextAttemptAt)}`;
  return lastErrorText(step);
}

/** A task and its steps. */
export function formatTask(task: Task): string {
  const head = [
    `${task.id}  ${task.namespace}/${task.name}@${task.version}  ${task.status}`,
    `correlation ${task.correlationId}  created ${when(task.createdAt)}  completed ${when(task.completedAt)}`,
  ];
  if (task.runAt) head.push(`delayed start: runs at ${when(task.runAt)}`);
  if (task.scheduleId) head.push(`from schedule ${task.scheduleId}, tick ${when(task.scheduleTickAt)}`);
  const rows = task.steps.map((step) => [
    step.name,
    step.status,
    `${step.attempts - step.uncountedAttempts}/${step.maxAttempts}`,
    step.dependsOn.join(',') || '-',
    step.dependentSystem,
    stepNote(step),
  ]);
  return `${head.join('\n')}\n\n${table(['STEP', 'STATUS', 'ATTEMPTS', 'DEPENDS ON', 'SYSTEM', 'NOTE'], rows)}`;
}

/** A page of tasks. */
export function formatTaskList(tasks: TaskSummary[]): string {
  if (tasks.length === 0) return 'no tasks';
  return table(
    ['ID', 'STATUS', 'TEMPLATE', 'CREATED'],
    tasks.map((t) => [t.id, t.status, `${t.namespace}/${t.name}@${t.version}`, when(t.createdAt)]),
  );
}

/** Registered templates. */
export function formatTemplates(templates: TemplateSummary[]): string {
  if (templates.length === 0) return 'no templates';
  return table(
    ['TEMPLATE', 'LATEST', 'VERSIONS'],
    templates.map((t) => [`${t.namespace}/${t.name}`, t.latest, t.versions.join(', ')]),
  );
}

/** Breakers with their recent evidence. */
export function formatBreakers(breakers: Breaker[]): string {
  if (breakers.length === 0) return 'no breakers';
  return table(
    ['SYSTEM', 'STATE', 'FORCED', 'CALLS/FAILURES', 'HELD', 'SINCE'],
    breakers.map((b) => [
      b.dependentSystem,
      b.state,
      b.forced ?? '-',
      `${b.recent.calls}/${b.recent.failures}`,
      String(b.heldSteps),
      when(b.since),
    ]),
  );
}
