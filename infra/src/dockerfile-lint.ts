/**
 * Lints a Dockerfile: `dockerfile-utils` (the VS Code Docker extension's validator: unknown
 * instructions, bad flags and arguments, malformed JSON forms, duplicate stage names...) plus
 * the image rules of issue 8 and the hadolint rules that apply here (DL3006/DL3007 pinned base
 * tags, DL3008 pinned apt packages, DL3009/DL3015 lean apt installs, DL3002 last USER not root,
 * DL3020 COPY rather than ADD, DL3025 JSON ENTRYPOINT/CMD).
 */
import { validate } from 'dockerfile-utils';

type Instruction = { keyword: string; args: string; line: number };

/** Logical instructions: continuation lines joined, comments and blank lines dropped. */
export function instructionsOf(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: Instruction | null = null;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (pending && line.startsWith('#')) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1).trim() : line;
    if (pending) pending.args = `${pending.args} ${body}`.trim();
    else {
      const [keyword = '', ...rest] = body.split(/\s+/);
      pending = { keyword: keyword.toUpperCase(), args: rest.join(' '), line: index + 1 };
    }
    if (!continued) {
      out.push(pending);
      pending = null;
    }
  });
  if (pending) out.push(pending);
  return out;
}

function argDefaults(instructions: Instruction[]): Map<string, string> {
  const defaults = new Map<string, string>();
  for (const { keyword, args } of instructions) {
    const match = keyword === 'ARG' ? /^([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/.exec(args) : null;
    if (match) defaults.set(match[1]!, match[2]!);
  }
  return defaults;
}

function parseJsonForm(args: string): string[] | null {
  try {
    const value = JSON.parse(args) as unknown;
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null;
  } catch {
    return null;
  }
}

/** Every problem as `line N: message`; empty when the Dockerfile passes. */
export function lintDockerfile(text: string): string[] {
  const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  const instructions = instructionsOf(text);
  const args = argDefaults(instructions);
  const froms = instructions.filter((i) => i.keyword === 'FROM');
  const stages = new Set(froms.map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1]).filter(Boolean));
  if (froms.length < 2) problems.push('the image must be built in several stages (build, then runtime)');
  for (const from of froms) {
    const image = from.args.split(/\s+/).find((a) => !a.startsWith('--')) ?? '';
    const resolved = image.replace(
      /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g,
      (_, name: string) => args.get(name) ?? '',
    );
    if (stages.has(resolved)) continue;
    if (!/^node:24[.\w-]*-slim$/.test(resolved))
      problems.push(`line ${from.line}: base image ${resolved || image} must be a Node 24 slim tag`);
  }
  const runtime = runtimeInstructions(instructions, froms);
  for (const i of instructions) problems.push(...ruleProblems(i));
  const user = runtime.filter((i) => i.keyword === 'USER').at(-1);
  if (!user || /^(root|0)(:|$)/.test(user.args))
    problems.push('the runtime stage must switch to a non-root USER (DL3002)');
  const entrypoint = runtime.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  const form = entrypoint ? parseJsonForm(entrypoint.args) : null;
  if (!form) problems.push('the runtime stage needs an ENTRYPOINT in JSON form (DL3025)');
  else if (!/(^|\/)(tini|dumb-init)$/.test(form[0] ?? ''))
    problems.push(`line ${entrypoint!.line}: PID 1 must be tini (or dumb-init), not ${form[0]}`);
  const cmd = runtime.filter((i) => i.keyword === 'CMD').at(-1);
  if (cmd && !parseJsonForm(cmd.args)) problems.push(`line ${cmd.line}: CMD must use the JSON form (DL3025)`);
  return problems;
}

/**
 * The instructions the default target (the last stage) is made of: its own and, when it is
 * built FROM an earlier stage, that stage's, and so on up the chain.
 */
function runtimeInstructions(instructions: Instruction[], froms: Instruction[]): Instruction[] {
  const stageOf = (from: Instruction) => /\bAS\s+(\S+)/i.exec(from.args)?.[1];
  const parentOf = (from: Instruction) => from.args.split(/\s+/).find((a) => !a.startsWith('--')) ?? '';
  const chain: Instruction[] = [];
  for (let from = froms.at(-1); from; ) {
    chain.unshift(from);
    const parent = parentOf(from);
    from = froms.find((f) => f.line < from!.line && stageOf(f) === parent);
  }
  return chain.flatMap((from) => {
    const end = froms.find((f) => f.line > from.line)?.line ?? Number.POSITIVE_INFINITY;
    return instructions.filter((i) => i.line >= from.line && i.line < end);
  });
}

function ruleProblems({ keyword, args, line }: Instruction): string[] {
  const problems: string[] = [];
  if (keyword === 'ADD' && !/https?:\/\//.test(args))
    problems.push(`line ${line}: use COPY for local files (DL3020)`);
  if (keyword === 'FROM' && /:latest(\s|$)/.test(args))
    problems.push(`line ${line}: do not use the latest tag (DL3007)`);
  if (keyword !== 'RUN' || !/apt-get install/.test(args)) return problems;
  if (!/--no-install-recommends/.test(args))
    problems.push(`line ${line}: apt-get install needs --no-install-recommends (DL3015)`);
  if (!/rm -rf \/var\/lib\/apt\/lists/.test(args))
    problems.push(`line ${line}: remove /var/lib/apt/lists after installing (DL3009)`);
  const packages =
    args
      .split(/apt-get install/)[1]
      ?.split(/&&|;/)[0]
      ?.split(/\s+/)
      .filter((a) => a && !a.startsWith('-')) ?? [];
  for (const pkg of packages)
    if (!pkg.includes('=')) problems.push(`line ${line}: pin the version of ${pkg} (DL3008)`);
  return problems;
}
