import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, UnavailableError } from '../../src/domain/errors.js';
import { isOutage, translateDatabaseError } from '../../src/postgres/errors.js';

function databaseError(code: string, constraint?: string): pg.DatabaseError {
  const error = new pg.DatabaseError('server message', 0, 'error');
  error.code = code;
  if (constraint !== undefined) error.constraint = constraint;
  return error;
}

const constraints = { things_key: { field: 'thing', message: 'A thing like that exists' } };

describe('translateDatabaseError', () => {
  it('turns a known unique violation into a AlreadyExistsError naming the field', () => {
    const translated = translateDatabaseError(databaseError('23505', 'things_key'), constraints);
    expect(translated).toBeInstanceOf(AlreadyExistsError);
    expect(translated).toMatchObject({ field: 'thing', message: 'A thing like that exists' });
  });

  it('leaves an unknown unique violation and other data errors alone: they are bugs', () => {
    for (const error of [
      databaseError('23505', 'other_key'),
      databaseError('23514'),
      databaseError('42P01'),
      databaseError('08P01'),
    ]) {
      expect(translateDatabaseError(error, constraints)).toBe(error);
    }
  });

  it('maps timeouts, shutdowns and lost connections to UnavailableError', () => {
    const transient = [
      databaseError('57014'),
      databaseError('57P01'),
      databaseError('53300'),
      databaseError('08006'),
      databaseError('40001'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      new Error('Query read timeout'),
    ];
    for (const error of transient) {
      const translated = translateDatabaseError(error, constraints);
      expect(translated, String(error)).toBeInstanceOf(UnavailableError);
      expect((translated as UnavailableError).message).not.toMatch(/ECONNREFUSED|5432|terminated/);
    }
  });

  it('leaves programming errors alone', () => {
    const bug = new TypeError('x is not a function');
    expect(translateDatabaseError(bug, constraints)).toBe(bug);
    expect(translateDatabaseError('a string', constraints)).toBe('a string');
  });
});

describe('isOutage: what may open the circuit breaker', () => {
  it('counts failures that say the database is unreachable or cannot serve anyone', () => {
    for (const error of [
      databaseError('08006'),
      databaseError('08001'),
      databaseError('53300'),
      databaseError('53100'),
      databaseError('57P01'),
      databaseError('57P02'),
      databaseError('57P03'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      new Error('Query read timeout'),
    ]) {
      expect(isOutage(error), String(error)).toBe(true);
    }
  });

  it('never counts what concerns one statement: timeouts, cancels, locks, conflicts, a busy pool, bugs', () => {
    for (const error of [
      databaseError('57014'),
      databaseError('55P03'),
      databaseError('40001'),
      databaseError('40P01'),
      databaseError('25P03'),
      databaseError('23505', 'things_key'),
      databaseError('23503'),
      databaseError('22001'),
      databaseError('42P01'),
      databaseError('08P01'),
      databaseError('XX000'),
      new Error('timeout exceeded when trying to connect'),
      new TypeError('x is not a function'),
    ]) {
      expect(isOutage(error), String(error.message) + String((error as { code?: string }).code)).toBe(false);
    }
  });
});
