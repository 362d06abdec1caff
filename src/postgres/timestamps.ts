import pg from 'pg';

const TIMESTAMPTZ = 1184;
const ZERO = 48;
const DASH = 45;
const SPACE = 32;

/**
 * Sessions run in UTC, so timestamptz arrives as "2026-11-21 14:12:25.149+00". pg's own
 * parser is regex-based and a visible share of a list's CPU; this one reads the digits where
 * ISO DateStyle puts them, and hands any other shape (a year past 9999, BC, "infinity") to
 * the native Date parser. Digits beyond milliseconds are dropped, as Date does.
 */
export function parseUtcTimestamp(text: string): Date {
  const n = text.length;
  // "YYYY-MM-DD HH:MM:SS+00" is 22 characters; a fraction adds "." and 1-6 digits.
  const digit = (i: number): number => text.charCodeAt(i) - ZERO;
  const two = (i: number): number => digit(i) * 10 + digit(i + 1);
  const year = two(0) * 100 + two(2);
  // Date.UTC reads years 0-99 as 1900-1999.
  if (
    n < 22 ||
    n > 29 ||
    n === 23 ||
    year < 100 ||
    text.charCodeAt(4) !== DASH ||
    text.charCodeAt(10) !== SPACE ||
    !text.endsWith('+00')
  ) {
    return new Date(`${text.slice(0, 10)}T${text.slice(11, -3)}Z`);
  }
  const fraction = n - 23;
  const ms =
    fraction === 0 ? 0 : digit(20) * 100 + (fraction > 1 ? digit(21) * 10 : 0) + (fraction > 2 ? digit(22) : 0);
  return new Date(Date.UTC(year, two(5) - 1, two(8), two(11), two(14), two(17), ms));
}

/** pg's type parsers, with timestamptz read by parseUtcTimestamp. */
export const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === TIMESTAMPTZ && format !== 'binary'
      ? parseUtcTimestamp
      : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
};
