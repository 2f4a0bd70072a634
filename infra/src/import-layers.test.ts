import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The import rules of the repository's biome.jsonc (docs/ARCHITECTURE.md, layers), run by the
// repository's own Biome on small trees laid out like the workspace.

const root = fileURLToPath(new URL('../../', import.meta.url));
const biome = join(root, 'node_modules/@biomejs/biome/bin/biome');
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Finding {
  file: string;
  rule: string;
  message: string;
}

/** Writes the files under a fresh directory beside a copy of biome.jsonc and lints it. */
function lint(files: Record<string, string>): { exitCode: number; findings: Finding[] } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-import-layers-'));
  dirs.push(dir);
  copyFileSync(join(root, 'biome.jsonc'), join(dir, 'biome.jsonc'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const run = spawnSync(process.execPath, [biome, 'lint', '--reporter=json', '--max-diagnostics=none', '.'], {
    cwd: dir,
    encoding: 'utf8',
  });
  const report = JSON.parse(run.stdout) as {
    diagnostics: { category: string; message: string; location: { path: string } }[];
  };
  const findings = report.diagnostics.map((d) => ({
    file: d.location.path,
    rule: d.category,
    message: d.message,
  }));
  return { exitCode: run.status ?? -1, findings };
}

const RESTRICTED = 'lint/style/noRestrictedImports';
const CYCLE = 'lint/suspicious/noImportCycles';

const broken: Record<string, string> = {
  // an app importing another app, by its package name and by a path into its files
  'apps/worker/src/uses-api.ts':
    "import { buildServer } from '@switchyard/api/server';\nexport const a = buildServer;\n",
  'apps/worker/src/reaches-api.ts': "import { main } from '../../api/src/main.ts';\nexport const a = main;\n",
  'apps/dashboard/vite.config.ts': "import { main } from '../api/src/main.ts';\nexport default main;\n",
  'apps/dashboard/build.ts': "import { spec } from '@switchyard/api/openapi';\nexport default spec;\n",
  'apps/api/src/main.ts': 'export const main = 1;\n',
  // a package importing an app
  'packages/engine/src/uses-app.ts':
    "import { main } from '@switchyard/worker-app/main';\nexport const a = main;\n",
  'packages/engine/src/uses-cli.ts': "import { run } from 'switchyard';\nexport const a = run;\n",
  // a package reaching into another package's files
  'packages/engine/src/reaches-db.ts':
    "import { claim } from '../../db/src/claim.ts';\nexport const a = claim;\n",
  // core importing a workspace package
  'packages/core/src/uses-db.ts':
    "import { createPool } from '@switchyard/db';\nexport const a = createPool;\n",
  'packages/core/src/uses-logger.ts':
    "import type { Logger } from '@switchyard/logger';\nexport type A = Logger;\n",
  // handler-kit importing queue or db
  'packages/handler-kit/src/uses-queue.ts':
    "import { queueName } from '@switchyard/queue';\nexport const a = queueName;\n",
  'packages/handler-kit/src/uses-db.ts':
    "import { withStatement } from '@switchyard/db/statements';\nexport const a = withStatement;\n",
  // db and queue importing each other
  'packages/db/src/uses-queue.ts':
    "import { queueName } from '@switchyard/queue';\nexport const a = queueName;\n",
  'packages/queue/src/uses-db.ts':
    "import { createPool } from '@switchyard/db';\nexport const a = createPool;\n",
  // a cycle that only a type import closes
  'packages/db/src/breakers.ts':
    "import type { ReadyStep } from './step-attempts.ts';\nexport const BLOCKED = 'blocked';\nexport type B = ReadyStep;\n",
  'packages/db/src/step-attempts.ts':
    "import { BLOCKED } from './breakers.ts';\nexport interface ReadyStep {\n  state: string;\n}\nexport const isBlocked = (step: ReadyStep) => step.state === BLOCKED;\n",
  // the layers' own packages importing an app or climbing out of their package
  'packages/core/src/uses-cli.ts': "import { run } from 'switchyard/commands';\nexport const a = run;\n",
  'packages/core/src/holds/reaches-db.ts':
    "import { claim } from '../../../db/src/claim.ts';\nexport const a = claim;\n",
  'packages/handler-kit/src/uses-app.ts':
    "import { main } from '@switchyard/fleet';\nexport const a = main;\n",
  'packages/handler-kit/src/reaches-core.ts':
    "import { hold } from '../../core/src/hold.ts';\nexport const a = hold;\n",
  'packages/db/src/uses-app.ts':
    "import { main } from '@switchyard/scheduler-app/main';\nexport const a = main;\n",
  'packages/db/src/reaches-queue.ts':
    "import { names } from '../../queue/src/names.ts';\nexport const a = names;\n",
  'packages/queue/src/uses-app.ts': "import { main } from '@switchyard/dashboard';\nexport const a = main;\n",
  'packages/queue/src/reaches-db.ts':
    "import { pool } from '../../db/src/pool.ts';\nexport const a = pool;\n",
  // a two-file import cycle
  'packages/engine/src/cycle-a.ts':
    "import { b } from './cycle-b.ts';\nexport const a = 1;\nexport function useB() {\n  return b;\n}\n",
  'packages/engine/src/cycle-b.ts':
    "import { a } from './cycle-a.ts';\nexport const b = 2;\nexport function useA() {\n  return a;\n}\n",
};

const clean: Record<string, string> = {
  // the cli finds a role's main by name at run time and runs it as a child process: no import
  'apps/cli/src/roles.ts':
    "export const main = import.meta.resolve('@switchyard/api/main');\nexport { helper } from './util/helper.ts';\n",
  'apps/cli/src/util/helper.ts':
    "import { engine } from '@switchyard/engine';\nexport const helper = engine;\n",
  'apps/api/src/routes/tasks.ts': "import { main } from '../main.ts';\nexport const a = main;\n",
  'apps/api/src/main.ts':
    "import { createTask } from '@switchyard/engine';\nexport const main = createTask;\n",
  'packages/engine/src/compose.ts':
    "import { applyHold } from '@switchyard/core';\nimport { createPool } from '@switchyard/db';\nimport { defineStepHandler } from '@switchyard/handler-kit';\nimport { queueName } from '@switchyard/queue';\nexport const a = [applyHold, createPool, defineStepHandler, queueName];\n",
  'packages/engine/test/compose.test.ts': "import { a } from '../src/compose.ts';\nexport const b = a;\n",
  'packages/db/src/pool.ts': "import { applyHold } from '@switchyard/core';\nexport const a = applyHold;\n",
  'packages/handler-kit/src/index.ts':
    "import { PermanentError } from '@switchyard/core';\nexport const defineStepHandler = PermanentError;\n",
  'packages/core/src/index.ts': "export { applyHold } from './holds/apply.ts';\n",
  'packages/core/src/holds/apply.ts':
    "import { backoff } from '../backoff.ts';\nexport const applyHold = backoff;\n",
  'packages/core/src/backoff.ts': 'export const backoff = 1;\n',
  // one-way imports only
  'packages/engine/src/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
  'packages/engine/src/b.ts': 'export const b = 1;\n',
  // outside apps/ and packages/, apps may be imported
  'infra/src/roles.ts': "import { main } from '@switchyard/api/main';\nexport const a = main;\n",
  'tests/e2e/cli.ts':
    "import { run } from 'switchyard';\nimport { demo } from '../../examples/demo/src/demo.ts';\nexport const a = [run, demo];\n",
  'examples/demo/src/demo.ts':
    "import { main } from '@switchyard/worker-app/main';\nexport const demo = main;\n",
  'bench/src/main.ts': "import { main } from '@switchyard/fleet/main';\nexport const a = main;\n",
};

describe('biome.jsonc import rules', () => {
  it('reports every import that crosses the layers, and each file of an import cycle', () => {
    const { exitCode, findings } = lint(broken);
    expect(exitCode).not.toBe(0);
    const found = findings.map((f) => [f.file, f.rule, f.message]);
    const expected: [string, string, string][] = [
      ['apps/worker/src/uses-api.ts', RESTRICTED, 'Apps never import apps'],
      ['apps/worker/src/reaches-api.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['apps/dashboard/vite.config.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['apps/dashboard/build.ts', RESTRICTED, 'Apps never import apps'],
      ['packages/engine/src/uses-app.ts', RESTRICTED, 'Packages never import apps'],
      ['packages/engine/src/uses-cli.ts', RESTRICTED, 'Packages never import apps'],
      ['packages/engine/src/reaches-db.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['packages/core/src/uses-db.ts', RESTRICTED, 'core imports no workspace package'],
      ['packages/core/src/uses-logger.ts', RESTRICTED, 'core imports no workspace package'],
      ['packages/handler-kit/src/uses-queue.ts', RESTRICTED, 'handler-kit never imports db or queue'],
      ['packages/handler-kit/src/uses-db.ts', RESTRICTED, 'handler-kit never imports db or queue'],
      ['packages/db/src/uses-queue.ts', RESTRICTED, 'db and queue never import each other'],
      ['packages/queue/src/uses-db.ts', RESTRICTED, 'db and queue never import each other'],
      ['packages/core/src/uses-cli.ts', RESTRICTED, 'core imports no workspace package'],
      ['packages/core/src/holds/reaches-db.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['packages/handler-kit/src/uses-app.ts', RESTRICTED, 'Packages never import apps'],
      ['packages/handler-kit/src/reaches-core.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['packages/db/src/uses-app.ts', RESTRICTED, 'Packages never import apps'],
      ['packages/db/src/reaches-queue.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['packages/queue/src/uses-app.ts', RESTRICTED, 'Packages never import apps'],
      ['packages/queue/src/reaches-db.ts', RESTRICTED, 'Relative imports stay inside their package'],
      ['packages/db/src/breakers.ts', CYCLE, ''],
      ['packages/db/src/step-attempts.ts', CYCLE, ''],
      ['packages/engine/src/cycle-a.ts', CYCLE, ''],
      ['packages/engine/src/cycle-b.ts', CYCLE, ''],
    ];
    for (const [file, rule, message] of expected) {
      expect(found, `${file}: ${rule} ${message}`).toContainEqual([
        file,
        rule,
        expect.stringContaining(message),
      ]);
    }
    // Nothing else: each file above breaks exactly one rule once.
    expect(findings).toHaveLength(expected.length);
  });

  it('passes a tree whose imports follow the layers', () => {
    const { exitCode, findings } = lint(clean);
    expect(findings).toEqual([]);
    expect(exitCode).toBe(0);
  });
});
