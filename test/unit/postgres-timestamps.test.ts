import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseUtcTimestamp } from '../../src/postgres/timestamps.js';

/** What PostgreSQL sends for a timestamptz in a UTC session with ISO DateStyle. */
function asPostgresText(date: Date, fractionDigits: number): string {
  const iso = date.toISOString(); // 2026-11-21T14:12:25.149Z
  const fraction = iso.slice(20, 23).padEnd(6, '0').slice(0, fractionDigits).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction === '' ? '' : `.${fraction}`}+00`;
}

describe('parseUtcTimestamp', () => {
  it('reads every fraction length PostgreSQL writes, to the millisecond', () => {
    expect(parseUtcTimestamp('2026-11-21 14:12:25.149+00').toISOString()).toBe('2026-11-21T14:12:25.149Z');
    expect(parseUtcTimestamp('2026-11-21 14:12:25.14+00').toISOString()).toBe('2026-11-21T14:12:25.140Z');
    expect(parseUtcTimestamp('2026-11-21 14:12:25.1+00').toISOString()).toBe('2026-11-21T14:12:25.100Z');
    expect(parseUtcTimestamp('2026-11-21 14:12:25+00').toISOString()).toBe('2026-11-21T14:12:25.000Z');
    // timestamptz(6): microseconds are dropped, as Date drops them.
    expect(parseUtcTimestamp('2026-02-28 23:59:59.999999+00').toISOString()).toBe('2026-02-28T23:59:59.999Z');
  });

  it('falls back to the Date parser for shapes it does not read by position', () => {
    expect(parseUtcTimestamp('0050-03-01 10:00:00+00').toISOString()).toBe('0050-03-01T10:00:00.000Z');
    expect(Number.isNaN(parseUtcTimestamp('infinity').getTime())).toBe(true);
  });

  it('agrees with the ISO 8601 parser for any instant from year 100 to 9999', () => {
    const instants = fc.date({
      min: new Date('0100-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59.999Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instants, fc.integer({ min: 0, max: 6 }), (date, digits) => {
        const text = asPostgresText(date, digits);
        const expected = new Date(`${text.slice(0, 10)}T${text.slice(11, -3)}Z`);
        expect(parseUtcTimestamp(text).getTime()).toBe(expected.getTime());
      }),
      { numRuns: 2000 },
    );
  });
});
