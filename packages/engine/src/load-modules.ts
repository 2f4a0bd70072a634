import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
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
 * @throws ConfigError when a module cannot be imported or exports no handler.
 */
export async function loadHandlerModules(paths: readonly string[]): Promise<StepHandler[]> {
  // A module may export a handler by name and again in an array: keep each handler once.
  const handlers = new Set<StepHandler>();
  for (const path of paths) {
    const module = await import(pathToFileURL(resolve(path)).href).catch((err) => {
      throw new ConfigError(`cannot load handler module ${path}: ${toError(err).message}`);
    });
    const found = Object.values(module as Record<string, unknown>)
      .flatMap((value) => (Array.isArray(value) ? value : [value]))
      .filter(isStepHandler);
    if (found.length === 0) throw new ConfigError(`handler module ${path} exports no step handler`);
    for (const handler of found) handlers.add(handler);
  }
  return [...handlers];
}

/**
 * Reads templates from YAML files, or from every `.yaml`/`.yml` file of a directory.
 * @throws ValidationError (naming the file) for an invalid template.
 */
export async function loadTemplateFiles(paths: readonly string[]): Promise<TaskTemplate[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => {
      throw new ConfigError(`template path ${path} does not exist`);
    });
    if (!info.isDirectory()) files.push(path);
    else {
      const entries = (await readdir(path))
        .filter((name) => ['.yaml', '.yml'].includes(extname(name)))
        .sort();
      files.push(...entries.map((name) => join(path, name)));
    }
  }
  return Promise.all(files.map(async (file) => parseTemplateFile(file)));
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
