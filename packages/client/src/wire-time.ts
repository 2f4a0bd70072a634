import { z } from 'zod';

/** Times travel as ISO 8601 strings (UTC, with `Z`). */
export const timestamp = z.iso.datetime();
export const nullableTimestamp = timestamp.nullable();
