import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, parseTemplateYaml, type TaskTemplate, toError } from '@switchyard/core';
import type { StepHandler } from '@switchyard/handler-kit';

function isStepHandler(value: unknown): value is StepHandler {
  const v = value as StepHandler | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.run === 'function';
}

/**
 * Imports handler modules by path (a team's own code) and collects every exported handler:
 * named exports, the default export, or arrays of handlers.
 * @throws ConfigError naming the module when it cannot be imported or exports no handler.
 */
export async function loadHandlerModules(paths: readonly string[]): Promise<StepHandler[]> {
  // A module may export a handler by name and again in an array: keep each handler once.
  const handlers = new Set<StepHandler>();
  for (const path of paths) {
    await stat(path).catch(() => {
      throw new ConfigError(`handler module ${shown(path)} does not exist; check the path`);
    });
    const module = await import(pathToFileURL(resolve(path)).href).catch((err) => {
      throw new ConfigError(`cannot load handler module ${shown(path)}: ${toError(err).message}`, {
        cause: toError(err),
      });
    });
    const found = Object.values(module as Record<string, unknown>)
      .flatMap((value) => (Array.isArray(value) ? value : [value]))
      .filter(isStepHandler);
    if (found.length === 0)
      throw new ConfigError(
        `handler module ${shown(path)} exports no step handler; export the handlers made with defineStepHandler (named, default, or in an array)`,
      );
    for (const handler of found) handlers.add(handler);
  }
  return [...handlers];
}

/**
 * Checks that every requested step type has a loaded handler, naming both lists and the
 * variables they come from, so a typo in either is found at start.
 * @throws ConfigError
 */
export function requireHandlersFor(
  stepTypes: readonly string[],
  handlers: readonly StepHandler[],
  modules: readonly string[],
): void {
  const names = new Set(handlers.map((handler) => handler.name));
  const missing = stepTypes.filter((type) => !names.has(type));
  if (missing.length === 0) return;
  throw new ConfigError(
    `SWITCHYARD_STEP_TYPES names step types with no handler: ${missing.join(', ')}; ` +
      `the handler modules (${modules.join(', ')}) export ${[...names].join(', ') || 'none'}. ` +
      'Correct the step types, or add the module that exports them to SWITCHYARD_HANDLER_MODULES',
  );
}

/**
 * Reads templates from YAML files, or from every `.yaml`/`.yml` file of a directory.
 * @throws ConfigError naming a path that does not exist or a directory with no templates;
 *   ValidationError (naming the file) for an invalid template.
 */
export async function loadTemplateFiles(paths: readonly string[]): Promise<TaskTemplate[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => {
      throw new ConfigError(`template path ${shown(path)} does not exist`);
    });
    if (!info.isDirectory()) files.push(path);
    else {
      const entries = (await readdir(path))
        .filter((name) => ['.yaml', '.yml'].includes(extname(name)))
        .sort();
      // An empty sync would "succeed" and register nothing: almost always a wrong directory.
      if (entries.length === 0)
        throw new ConfigError(
          `template directory ${shown(path)} holds no .yaml or .yml files; name a template file or the directory that holds them`,
        );
      files.push(...entries.map((name) => join(path, name)));
    }
  }
  return Promise.all(files.map(async (file) => parseTemplateFile(file)));
}

/** A path as given, with where it resolves to when it is relative. */
function shown(path: string): string {
  return isAbsolute(path) ? path : `${path} (${resolve(path)})`;
}

async function parseTemplateFile(file: string): Promise<TaskTemplate> {
  try {
    return parseTemplateYaml(await readFile(file, 'utf8'));
  } catch (err) {
    const error = toError(err);
    error.message = `${file}: ${error.message}`;
    throw error;
  }
}
