import type { TaskTemplate } from '@switchyard/core';
import { type Pool, registerTemplate } from '@switchyard/db';

/** Registers templates in order; a version registered earlier with other content is refused. */
export async function registerTemplates(pool: Pool, templates: readonly TaskTemplate[]): Promise<void> {
  for (const template of templates) await registerTemplate(pool, template);
}
