/**
 * The SQL against the state machine declared in @switchyard/core (states.ts): reads the sources
 * of packages/db and packages/engine as text and checks that every status literal compared with
 * or written to a status column (`status`, `from_status`, `to_status`, ...) is a declared state,
 * that every literal status list is one of core's status groups, and that every transition row
 * the SQL inserts with literal statuses is a declared transition. The directories are scanned,
 * not fixed files, so a new or split file is checked as soon as it exists.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  canTransitionStep,
  canTransitionTask,
  STEP_MACHINE,
  STEP_STATUS_GROUPS,
  type StateMachine,
  TASK_MACHINE,
  TASK_STATUS_GROUPS,
} from '@switchyard/core';
import { describe, expect, it } from 'vitest';

type Machine = 'step' | 'task';
type Source = { file: string; text: string };
/** A problem found in the sources, with where. */
type Finding = { at: string; problem: string };
/** What a scan found: the problems, and what it checked (to prove it looked at something). */
type Scan = {
  findings: Finding[];
  literals: number;
  lists: { at: string; machine: Machine | 'either'; group: string | null }[];
  /** Inserted transitions; `from: null` is a creation, `'?'` (or `to: null`) a computed status. */
  transitions: { at: string; machine: Machine; from: string | null; to: string | null }[];
};

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const SCANNED = ['packages/db/src', 'packages/engine/src'];

function sources(): Source[] {
  return SCANNED.flatMap((dir) =>
    readdirSync(`${repoRoot}${dir}`)
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
      .sort()
      .map((name) => ({ file: `${dir}/${name}`, text: readFileSync(`${repoRoot}${dir}/${name}`, 'utf8') })),
  );
}

const MACHINES: Record<Machine, StateMachine<string>> = { step: STEP_MACHINE, task: TASK_MACHINE };
const GROUPS: Record<Machine, Readonly<Record<string, readonly string[]>>> = {
  step: STEP_STATUS_GROUPS,
  task: TASK_STATUS_GROUPS,
};
const TABLES: Record<string, Machine> = {
  workflow_steps: 'step',
  step_transitions: 'step',
  tasks: 'task',
  task_transitions: 'task',
};
/** Aliases the statements use when the alias is defined in another template (a SQL fragment). */
const USUAL_ALIASES: Record<string, Machine> = {
  s: 'step',
  c: 'step',
  p: 'step',
  st: 'step',
  t: 'task',
  tt: 'task',
};

const isState = (machine: Machine, value: string) => MACHINES[machine].states.includes(value);
const anyState = (value: string) => isState('step', value) || isState('task', value);
const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value) => b.includes(value)) && b.every((value) => a.includes(value));

function groupOf(machine: Machine, values: readonly string[]): string | null {
  const found = Object.entries(GROUPS[machine]).find(([, group]) => sameSet(group, values));
  return found ? found[0] : null;
}

function allows(machine: Machine, from: string | null, to: string): boolean {
  return machine === 'step'
    ? canTransitionStep(from as never, to as never)
    : canTransitionTask(from as never, to as never);
}

/** The template literals of a TypeScript source, as [start, end) ranges of their text. */
function templateRanges(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  // A stack of what we are in: code (with its brace depth, to find the end of `${...}`) or a template.
  const stack: ({ kind: 'code'; depth: number } | { kind: 'template'; start: number })[] = [
    { kind: 'code', depth: 0 },
  ];
  let i = 0;
  while (i < text.length) {
    const top = stack[stack.length - 1]!;
    const ch = text[i]!;
    if (top.kind === 'template') {
      if (ch === '\\') i += 2;
      else if (ch === '`') {
        if (stack.length === 2) ranges.push([top.start, i]);
        stack.pop();
        i += 1;
      } else if (ch === '$' && text[i + 1] === '{') {
        stack.push({ kind: 'code', depth: 0 });
        i += 2;
      } else i += 1;
      continue;
    }
    if (ch === '/' && text[i + 1] === '/')
      i = text.indexOf('\n', i) === -1 ? text.length : text.indexOf('\n', i);
    else if (ch === '/' && text[i + 1] === '*') i = text.indexOf('*/', i + 2) + 2;
    else if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== ch && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      i = j + 1;
    } else if (ch === '`') {
      stack.push({ kind: 'template', start: i + 1 });
      i += 1;
    } else if (ch === '{') {
      top.depth += 1;
      i += 1;
    } else if (ch === '}') {
      if (top.depth === 0 && stack.length > 1) stack.pop();
      else top.depth -= 1;
      i += 1;
    } else i += 1;
  }
  return ranges;
}

/**
 * The tables a statement names, with their position and alias. A CTE that updates, inserts into
 * or selects from a table stands for that table (`inserted AS (INSERT INTO workflow_steps ...)`).
 */
function tableRefs(sql: string, offset: number) {
  const names: Record<string, Machine> = { ...TABLES };
  for (const m of sql.matchAll(
    /\b(\w+)\s+AS\s+(?:MATERIALIZED\s+)?\(\s*(?:INSERT\s+INTO|UPDATE|SELECT\b[^()]*?\bFROM)\s+(workflow_steps|step_transitions|tasks|task_transitions)\b/gi,
  )) {
    names[m[1]!] = TABLES[m[2]!.toLowerCase()]!;
  }
  const keyword =
    /^(where|set|on|join|left|inner|cross|using|returning|group|order|limit|for|select|and|as|with|values)$/i;
  const refs: { at: number; machine: Machine; alias: string | null }[] = [];
  for (const m of sql.matchAll(/\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)\b(?:\s+(?:AS\s+)?([A-Za-z_]\w*))?/gi)) {
    const machine = names[m[1]!];
    if (!machine) continue;
    const alias = m[2] && !keyword.test(m[2]) ? m[2] : m[1]!;
    refs.push({ at: offset + m.index, machine, alias });
  }
  return refs;
}

/**
 * Which machine a status column belongs to: by its name (`task_status`), its alias in the
 * statement, the usual aliases, or else the table the statement names nearest to it. Outside
 * SQL (TypeScript comparisons) it may be either.
 */
function resolver(text: string) {
  const ranges = templateRanges(text);
  const statementAt = (pos: number) => ranges.find(([start, end]) => pos >= start && pos < end) ?? null;
  return (pos: number, qualifier: string | null, column: string): Machine | 'either' => {
    if (/task/i.test(column)) return 'task';
    if (/step/i.test(column)) return 'step';
    const range = statementAt(pos);
    if (!range) return 'either';
    const refs = tableRefs(text.slice(range[0], range[1]), range[0]);
    if (qualifier) {
      const aliased = refs.find((ref) => ref.alias === qualifier);
      if (aliased) return aliased.machine;
      if (USUAL_ALIASES[qualifier]) return USUAL_ALIASES[qualifier];
    }
    const nearest = refs.sort((a, b) => Math.abs(a.at - pos) - Math.abs(b.at - pos))[0];
    return nearest?.machine ?? 'either';
  };
}

function lineOf(text: string, pos: number): number {
  return text.slice(0, pos).split('\n').length;
}

/** The top-level comma-separated expressions of a SELECT list starting at `start`. */
function selectList(text: string, start: number): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = start; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      current += text.slice(i, end + 1);
      i = end;
      continue;
    }
    if (ch === '`' || (depth === 0 && /^\s(FROM|WHERE|ON CONFLICT)\b/i.test(text.slice(i, i + 13)))) break;
    if (ch === '(') depth += 1;
    if (ch === ')') {
      if (depth === 0) break;
      depth -= 1;
    }
    if (ch === ',' && depth === 0) {
      items.push(current.trim());
      current = '';
    } else current += ch;
  }
  items.push(current.trim());
  return items;
}

/** The status values an expression can take: its literals (a CASE's results), null, or dynamic. */
function values(expression: string): { literals: string[]; isNull: boolean; dynamic: boolean } {
  if (/^NULL$/i.test(expression)) return { literals: [], isNull: true, dynamic: false };
  const literal = /^'([^']*)'$/.exec(expression);
  if (literal) return { literals: [literal[1]!], isNull: false, dynamic: false };
  if (/^CASE\b/i.test(expression)) {
    const results = [...expression.matchAll(/\b(?:THEN|ELSE)\s+('([^']*)'|[^\s']+)/gi)];
    return {
      literals: results.filter((r) => r[2] !== undefined).map((r) => r[2]!),
      isNull: false,
      dynamic: results.some((r) => r[2] === undefined),
    };
  }
  return { literals: [], isNull: false, dynamic: true };
}

/** Scans sources for status literals, status lists and inserted transitions (see the file's doc). */
function scan(files: Source[]): Scan {
  const result: Scan = { findings: [], literals: 0, lists: [], transitions: [] };
  for (const { file, text } of files) {
    const machineAt = resolver(text);
    const at = (pos: number) => `${file}:${lineOf(text, pos)}`;
    const checkLiteral = (pos: number, machine: Machine | 'either', value: string, what: string) => {
      result.literals += 1;
      const ok = machine === 'either' ? anyState(value) : isState(machine, value);
      if (!ok) {
        result.findings.push({
          at: at(pos),
          problem: `${what} '${value}' is not a declared ${machine === 'either' ? 'step or task' : machine} status`,
        });
      }
    };

    // A status column compared with (or set to) a literal: s.status = 'x', status <> 'x', step.status === 'x'.
    for (const m of text.matchAll(/\b(?:(\w+)\.)?(\w*status)\b[')}\s]*(===|!==|<>|!=|=)\s*'([^']*)'/gi)) {
      if (/http/i.test(m[2]!)) continue;
      checkLiteral(m.index, machineAt(m.index, m[1] ?? null, m[2]!), m[4]!, `${m[2]} ${m[3]}`);
    }
    // A status column set from a CASE: status = CASE WHEN ... THEN 'x' ELSE 'y' END.
    for (const m of text.matchAll(/\b(?:(\w+)\.)?(\w*status)\s*=\s*(CASE\b[\s\S]*?\bEND)\b/gi)) {
      const machine = machineAt(m.index, m[1] ?? null, m[2]!);
      for (const value of values(m[3]!).literals) checkLiteral(m.index, machine, value, `${m[2]} = CASE`);
    }
    // A literal list of statuses in SQL: status IN ('a', 'b').
    for (const m of text.matchAll(
      /\b(?:(\w+)\.)?(\w*status)\b[')}\s]*\s(?:NOT\s+)?IN\s*\(\s*('[^']*'(?:\s*,\s*'[^']*')*)\s*\)/gi,
    )) {
      const machine = machineAt(m.index, m[1] ?? null, m[2]!);
      const items = [...m[3]!.matchAll(/'([^']*)'/g)].map((item) => item[1]!);
      for (const value of items) checkLiteral(m.index, machine, value, `${m[2]} IN`);
      checkList(m.index, machine, items);
    }
    // A literal array that holds a status, in TypeScript: ['enqueued', 'waiting_retry'].includes(...).
    for (const m of text.matchAll(/\[\s*('[a-z_]+'(?:\s*,\s*'[a-z_]+')+)\s*,?\s*\]/g)) {
      const items = [...m[1]!.matchAll(/'([^']*)'/g)].map((item) => item[1]!);
      if (!items.some(anyState)) continue;
      for (const value of items) checkLiteral(m.index, 'either', value, 'status list item');
      checkList(m.index, 'either', items);
    }
    // Rows inserted with a status: tasks and steps at creation, and every audit transition.
    for (const m of text.matchAll(
      /INSERT INTO (workflow_steps|tasks|step_transitions|task_transitions)\s*\(([^)]*)\)\s*SELECT\s/gi,
    )) {
      const table = m[1]!.toLowerCase();
      const machine = TABLES[table]!;
      const columns = m[2]!.split(',').map((column) => column.trim());
      const expressions = selectList(text, m.index + m[0].length);
      const expressionOf = (column: string) => {
        const index = columns.indexOf(column);
        if (index < 0) return null;
        if (expressions.length !== columns.length) {
          result.findings.push({
            at: at(m.index),
            problem: `INSERT INTO ${table}: ${columns.length} columns but ${expressions.length} expressions read`,
          });
          return null;
        }
        return values(expressions[index]!);
      };
      if (table === 'workflow_steps' || table === 'tasks') {
        const status = expressionOf('status');
        for (const value of status?.literals ?? []) {
          checkLiteral(m.index, machine, value, `${table}.status at creation`);
          result.transitions.push({ at: at(m.index), machine, from: null, to: value });
          if (isState(machine, value) && !allows(machine, null, value)) {
            result.findings.push({
              at: at(m.index),
              problem: `${machine} created in '${value}' is not declared`,
            });
          }
        }
        continue;
      }
      const from = expressionOf('from_status');
      const to = expressionOf('to_status');
      if (!from || !to) {
        result.findings.push({
          at: at(m.index),
          problem: `INSERT INTO ${table} without from_status and to_status`,
        });
        continue;
      }
      for (const value of from.literals) checkLiteral(m.index, machine, value, 'from_status');
      for (const value of to.literals) checkLiteral(m.index, machine, value, 'to_status');
      checkInsertedTransition(m.index, machine, from, to);
    }
    function checkList(pos: number, machine: Machine | 'either', items: string[]) {
      const candidates: Machine[] = machine === 'either' ? ['step', 'task'] : [machine];
      const group = candidates.map((c) => groupOf(c, items)).find((name) => name !== null) ?? null;
      result.lists.push({ at: at(pos), machine, group });
      if (!group) {
        const known = candidates
          .flatMap((c) => Object.entries(GROUPS[c]).map(([name, list]) => `${name} (${list.join(', ')})`))
          .join('; ');
        result.findings.push({
          at: at(pos),
          problem: `the ${machine === 'either' ? '' : `${machine} `}status list (${items.join(', ')}) is none of core's status groups: ${known}`,
        });
      }
    }
    function checkInsertedTransition(
      pos: number,
      machine: Machine,
      from: ReturnType<typeof values>,
      to: ReturnType<typeof values>,
    ) {
      const transitions = MACHINES[machine].transitions;
      const fromValues: (string | null)[] = [...from.literals, ...(from.isNull ? [null] : [])];
      for (const f of fromValues) {
        for (const t of to.literals) {
          result.transitions.push({ at: at(pos), machine, from: f, to: t });
          if (isState(machine, t) && (f === null || isState(machine, f)) && !allows(machine, f, t)) {
            result.findings.push({
              at: at(pos),
              problem: `${machine} transition ${f ?? '[*]'} → ${t} is not declared`,
            });
          }
        }
        // The target is computed: at least one declared move must leave `f`.
        if (to.dynamic && !transitions.some((t) => t.from === f)) {
          result.findings.push({ at: at(pos), problem: `no ${machine} transition leaves ${f ?? '[*]'}` });
        }
        if (to.dynamic) result.transitions.push({ at: at(pos), machine, from: f, to: null });
      }
      // The source is computed: at least one declared move (not a creation) must enter `t`.
      if (from.dynamic) {
        for (const t of to.literals) {
          result.transitions.push({ at: at(pos), machine, from: '?', to: t });
          if (!transitions.some((d) => d.to === t && d.from !== null)) {
            result.findings.push({ at: at(pos), problem: `no ${machine} transition enters ${t}` });
          }
        }
      }
    }
  }
  return result;
}

function report(findings: Finding[]): string {
  return findings.map((f) => `${f.at}: ${f.problem}`).join('\n');
}

describe('the SQL of packages/db and packages/engine against the declared state machines', () => {
  const found = scan(sources());

  it('uses only declared statuses, declared status groups and declared transitions', () => {
    expect(found.findings, report(found.findings)).toEqual([]);
  });

  it('looked at the statements that move steps and tasks', () => {
    // The scan found what these files are known to hold; a scanner that silently stopped
    // matching would pass the test above with nothing checked.
    expect(found.literals).toBeGreaterThan(60);
    const groups = new Set(found.lists.map((list) => list.group));
    for (const group of [
      'STEP_CLAIMABLE',
      'STEP_IN_FLIGHT',
      'STEP_SATISFIED',
      'STEP_CANCELLABLE',
      'TASK_RUNNING',
    ]) {
      expect(groups, group).toContain(group);
    }
    const pairs = new Set(found.transitions.map((t) => `${t.machine} ${t.from ?? '[*]'} → ${t.to ?? '?'}`));
    for (const pair of [
      'step [*] → pending',
      'step [*] → enqueued',
      'step pending → enqueued',
      'step in_progress → complete',
      'step held → enqueued',
      'step error → enqueued',
      'step in_progress → ?',
      'step ? → held',
      'step ? → cancelled',
      'task [*] → pending',
      'task ? → complete',
      'task pending → in_progress',
      'task error → in_progress',
    ]) {
      expect(pairs, pair).toContain(pair);
    }
  });
});

describe('the scan itself', () => {
  const scanOne = (text: string) => scan([{ file: 'example.ts', text }]).findings.map((f) => f.problem);

  it('accepts declared statuses, groups and transitions', () => {
    const sql = `const SQL = \`
      WITH moved AS (
        UPDATE workflow_steps s SET status = 'in_progress' WHERE s.status IN ('enqueued', 'waiting_retry')
        RETURNING s.id, s.task_id
      )
      INSERT INTO step_transitions (step_id, task_id, from_status, to_status) SELECT id, task_id, 'enqueued', 'in_progress' FROM moved\`;`;
    expect(scanOne(sql)).toEqual([]);
  });

  it('flags a status that is not declared', () => {
    expect(scanOne("const SQL = `UPDATE workflow_steps SET status = 'finished' WHERE id = $1`;")).toEqual([
      "status = 'finished' is not a declared step status",
    ]);
    expect(scanOne("const SQL = `UPDATE tasks t SET status = 'x' WHERE t.status = 'held'`;")).toEqual([
      "status = 'x' is not a declared task status",
      "status = 'held' is not a declared task status",
    ]);
  });

  it('flags a status list that is none of the groups', () => {
    const problems = scanOne(
      "const SQL = `SELECT count(*) FILTER (WHERE status IN ('enqueued', 'in_progress', 'waiting_retry')) FROM workflow_steps`;",
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^the step status list \(enqueued, in_progress, waiting_retry\) is none of/);
    expect(scanOne("if (['pending', 'held'].includes(row.status)) {}")).toHaveLength(1);
  });

  it('flags an inserted transition that is not declared', () => {
    const sql = `const SQL = \`
      INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason) SELECT id, task_id, 'in_progress', 'held', $2 FROM failed\`;
      const TASK = \`INSERT INTO task_transitions (task_id, from_status, to_status) SELECT id, 'complete', 'in_progress' FROM t\`;`;
    expect(scanOne(sql)).toEqual([
      'step transition in_progress → held is not declared',
      'task transition complete → in_progress is not declared',
    ]);
  });
});
