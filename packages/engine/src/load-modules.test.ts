import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { CommonEnv, WorkerEnvSettings } from '@switchyard/config';
import { ConfigError } from '@switchyard/core';
import { defineStepHandler } from '@switchyard/handler-kit';
import { createLogger } from '@switchyard/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHandlerModules, loadTemplateFiles, requireHandlersFor } from './load-modules.ts';
import { type Infrastructure, startWorkerRole } from './roles.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-load-'));
  await writeFile(join(dir, 'handlers.mjs'), "export const greet = { name: 'greet', run: () => ({}) };\n");
  await writeFile(join(dir, 'nothing.mjs'), 'export const answer = 42;\n');
  await mkdir(join(dir, 'empty'));
  await mkdir(join(dir, 'notes'));
  await writeFile(join(dir, 'notes', 'README.txt'), 'templates go elsewhere\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadHandlerModules', () => {
  it('loads the handlers a module exports', async () => {
    const handlers = await loadHandlerModules([join(dir, 'handlers.mjs')]);
    expect(handlers.map((handler) => handler.name)).toEqual(['greet']);
  });

  it('names a module that does not exist, with where a relative path resolved to', async () => {
    const missing = relative(process.cwd(), join(dir, 'missing.ts'));
    const error = await loadHandlerModules([missing]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `handler module ${missing} (${join(dir, 'missing.ts')}) does not exist; check the path`,
    );
  });

  it('names a module that exports no step handler and says what to export', async () => {
    await expect(loadHandlerModules([join(dir, 'nothing.mjs')])).rejects.toThrow(
      `handler module ${join(dir, 'nothing.mjs')} exports no step handler; export the handlers made with defineStepHandler`,
    );
  });
});

describe('requireHandlersFor', () => {
  const greet = defineStepHandler('greet', () => ({}));

  it('accepts step types that all have a handler, and none at all', () => {
    expect(() => requireHandlersFor(['greet'], [greet], ['h.ts'])).not.toThrow();
    expect(() => requireHandlersFor([], [greet], ['h.ts'])).not.toThrow();
  });

  it('names the step types without a handler, what the modules export, and the variables', () => {
    expect(() => requireHandlersFor(['greet', 'gret', 'bill'], [greet], ['h.ts'])).toThrow(
      'SWITCHYARD_STEP_TYPES names step types with no handler: gret, bill; the handler modules (h.ts) export greet. ' +
        'Correct the step types, or add the module that exports them to SWITCHYARD_HANDLER_MODULES',
    );
  });

  it('stops a worker role before it connects to anything', async () => {
    const env = {
      SWITCHYARD_HANDLER_MODULES: [join(dir, 'handlers.mjs')],
      SWITCHYARD_TEMPLATE_PATHS: [],
      SWITCHYARD_STEP_TYPES: ['greet', 'gret'],
    } as unknown as CommonEnv & WorkerEnvSettings;
    const logger = createLogger({ name: 'load-test', level: 'silent' });
    await expect(startWorkerRole(env, {} as Infrastructure, logger)).rejects.toThrow(
      'SWITCHYARD_STEP_TYPES names step types with no handler: gret',
    );
  });
});

describe('loadTemplateFiles', () => {
  it('names a path that does not exist', async () => {
    await expect(loadTemplateFiles([join(dir, 'nope')])).rejects.toThrow(
      `template path ${join(dir, 'nope')} does not exist`,
    );
  });

  it.each(['empty', 'notes'])('refuses a directory with no templates (%s)', async (name) => {
    const error = await loadTemplateFiles([join(dir, name)]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `template directory ${join(dir, name)} holds no .yaml or .yml files; name a template file or the directory that holds them`,
    );
  });
});
