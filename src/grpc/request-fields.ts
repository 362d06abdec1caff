import type { Sort } from '../domain/page.js';
import { IdParams } from '../http/schemas.js';
import { invalidArgument } from './errors.js';

/** The list request's field for each REST query parameter, for naming failing fields. */
const LIST_FIELD: Readonly<Record<string, string>> = {
  limit: 'page_size',
  sort: 'order_by',
  q: 'query',
  cursor: 'page_token',
};

export const listField = (restParameter: string): string => LIST_FIELD[restParameter] ?? restParameter;

/** The fields an update_mask names (AIP-134): at least one, each one of `allowed`. */
export function maskedFields(paths: readonly string[] | undefined, allowed: readonly string[]): Set<string> {
  const fields = new Set(paths ?? []);
  const unknown = [...fields].filter((path) => !allowed.includes(path));
  if (fields.size === 0 || unknown.length > 0) {
    const description =
      fields.size === 0 ? 'must name at least one field' : `names unknown fields: ${unknown.join(', ')}`;
    throw invalidArgument([{ field: 'update_mask', description }]);
  }
  return fields;
}

/** The id in a resource name such as "products/{id}" (AIP-122); INVALID_ARGUMENT otherwise. */
export function idFromName(name: string, collection: string, field: string): string {
  const id = name.startsWith(`${collection}/`) ? name.slice(collection.length + 1) : '';
  // The rule REST applies to a path id.
  if (!IdParams.safeParse({ id }).success)
    throw invalidArgument([{ field, description: `must be ${collection}/{id} with a UUID id` }]);
  return id.toLowerCase();
}

/** page_size: 0 means the default of 20; 1–100 otherwise (AIP-158). */
export function pageSize(size: number): number {
  if (size === 0) return 20;
  if (size < 1 || size > 100) throw invalidArgument([{ field: 'page_size', description: 'must be between 1 and 100' }]);
  return size;
}

/** order_by (AIP-132): one field, then "desc" or nothing; field names as in the proto. */
export function orderBy<F extends string>(
  given: string,
  fields: Readonly<Record<string, F>>,
  fallback: string,
): Sort<F> {
  const [name = '', direction = 'asc', extra] = (given.trim() === '' ? fallback : given).trim().split(/\s+/);
  const field = fields[name];
  if (field === undefined || extra !== undefined || (direction !== 'asc' && direction !== 'desc')) {
    const allowed = Object.keys(fields).join(', ');
    throw invalidArgument([
      { field: 'order_by', description: `must be one of ${allowed}, optionally followed by desc` },
    ]);
  }
  return { field, direction };
}

/** The version an etag ("\"3\"", as REST's ETag, or 3) names; undefined when empty. */
export function expectedVersion(etag: string, field: string): number | undefined {
  if (etag === '') return undefined;
  const match = /^(?:W\/)?"?(\d{1,9})"?$/.exec(etag);
  if (match === null) throw invalidArgument([{ field, description: 'must be an etag this service returned' }]);
  return Number(match[1]);
}
