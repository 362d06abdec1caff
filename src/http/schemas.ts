import { z } from 'zod';
import type { Sort, SortDirection } from '../domain/page.js';

/** Building blocks shared by the product and user schemas. */

/** A caller's X-Request-ID that is safe to echo and log; any other is replaced by a new UUID. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The length of a UUID in text: no path id can be longer. */
export const ID_LENGTH = 36;
export const IdParams = z.strictObject({ id: z.uuid() });

/** POST may carry an Idempotency-Key (1–255 printable ASCII characters); other headers pass. */
export const IdempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(/^[\x20-\x7E]{1,255}$/, 'must be 1–255 printable ASCII characters')
    .optional()
    .describe('Makes a retried POST safe: the first response is stored for 24 h and replayed'),
});

export const NotModified = z.null().describe('Not Modified: the copy named in If-None-Match is current; no body');
export const NoContent = z.null().describe('Deleted; no body');

export const Timestamp = z.iso.datetime({ precision: 3 }).describe('RFC 3339 UTC with milliseconds');

/** Text with no control characters. Every string that reaches a query needs it: PostgreSQL refuses NUL in text. */
export const NO_CONTROL_CHARACTERS = /^[^\p{Cc}]*$/u;

/** Refuses control characters with the one message clients see for them. */
export const withoutControlCharacters = (text: z.ZodString) =>
  text.regex(NO_CONTROL_CHARACTERS, 'must not contain control characters');

/** Length in characters (code points), as JSON Schema's minLength/maxLength and PostgreSQL's char_length count. */
function characters(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/** A string of min–max characters (not UTF-16 units), reported in the words of the other length checks. */
function lengthBetween(text: z.ZodString, min: number, max: number) {
  return text.superRefine((value, ctx) => {
    // Units bound characters from above, so only a string longer than max units needs counting.
    const count = value.length <= max && value.length >= 2 * min ? value.length : characters(value);
    if (count < min) ctx.addIssue({ code: 'too_small', origin: 'string', minimum: min, inclusive: true, input: value });
    if (count > max) ctx.addIssue({ code: 'too_big', origin: 'string', maximum: max, inclusive: true, input: value });
  });
}

// What "at least min characters once trimmed" means as a pattern: so many characters that are
// neither white space nor control characters (trimmed text starts and ends with one).
const TRIMMED_PATTERNS: Readonly<Record<number, string>> = {
  0: '^[^\\p{Cc}]*$',
  1: '^[^\\p{Cc}]*[^\\s\\p{Cc}][^\\p{Cc}]*$',
  2: '^[^\\p{Cc}]*[^\\s\\p{Cc}][^\\p{Cc}]*[^\\s\\p{Cc}][^\\p{Cc}]*$',
};

/**
 * Single-line text, trimmed: names must not smuggle in control characters. The document
 * states exactly what is accepted before trimming (min ≤ 2, which the patterns express).
 */
export const singleLine = (min: 0 | 1 | 2, max: number) =>
  lengthBetween(withoutControlCharacters(z.string().trim()), min, max).meta({
    minLength: min,
    maxLength: max,
    pattern: TRIMMED_PATTERNS[min],
  });

/** Multi-line text: tabs and line breaks are fine, other control characters are not. */
export const multiLine = (max: number) =>
  lengthBetween(
    z
      .string()
      .regex(/^(?:[\t\n\r]|[^\p{Cc}])*$/u, 'must not contain control characters other than tab and line breaks'),
    0,
    max,
  ).meta({ maxLength: max });

export const Limit = z
  .string()
  .regex(/^\d{1,3}$/, 'must be an integer between 1 and 100')
  .transform(Number)
  .pipe(
    z.number().int().min(1, 'must be an integer between 1 and 100').max(100, 'must be an integer between 1 and 100'),
  )
  .default(20)
  // A query value is text; the document says which text: an integer in range.
  .meta({ type: 'integer', minimum: 1, maximum: 100, default: 20, pattern: undefined })
  .describe('Page size, 1–100 (default 20). Out-of-range values are rejected, never clamped.');

export const Cursor = z
  .string()
  .min(1)
  .max(2048)
  .describe('Opaque cursor from the previous page’s next_cursor; one this service did not issue is refused (400)');

export const SearchText = singleLine(1, 200).describe(
  'Case-insensitive substring of the name; % and _ match themselves',
);

/** `-name` → { field: 'name', direction: 'desc' } for the given allowed fields. */
export function sortParam<const F extends string>(fields: readonly [F, ...F[]], fallback: NoInfer<`${'' | '-'}${F}`>) {
  const values = fields.flatMap((f) => [f, `-${f}`]) as [string, ...string[]];
  return z
    .enum(values)
    .default(fallback)
    .transform((value): Sort<F> => {
      const direction: SortDirection = value.startsWith('-') ? 'desc' : 'asc';
      return { field: value.replace(/^-/, '') as F, direction };
    })
    .describe('Sort field; a leading "-" sorts descending. Ties are broken by id.');
}

export const FieldError = z.object({
  path: z.string().describe('JSON Pointer into the body (/price), or query.<name> / path.<name>'),
  message: z.string(),
});

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional().describe('The path of the request; absent when the path itself was refused'),
    request_id: z.string(),
    errors: z.array(FieldError).max(100).optional().describe('The first 100 invalid fields'),
    error_count: z.number().int().min(1).optional().describe('How many fields are invalid in all'),
  })
  .describe('RFC 9457 problem details');
export type Problem = z.infer<typeof Problem>;

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  });
