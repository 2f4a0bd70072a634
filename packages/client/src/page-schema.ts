/**
 * The shape of every keyset-paged list of the API: the items under their own name and the
 * cursor of the next page (null on the last page).
 */
import { z } from 'zod';

/** `{ [key]: item[], nextCursor: string | null }`, registered in the OpenAPI document as `id`. */
export function pageSchema<const Key extends string, Item extends z.ZodType>(
  key: Key,
  item: Item,
  id: string,
) {
  const shape = { [key]: z.array(item), nextCursor: z.string().nullable() } as {
    [K in Key]: z.ZodArray<Item>;
  } & { nextCursor: z.ZodNullable<z.ZodString> };
  return z.object(shape).meta({ id });
}
