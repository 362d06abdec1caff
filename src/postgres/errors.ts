import pg from 'pg';
import { AlreadyExistsError, UnavailableError } from '../domain/errors.js';

/** What a unique constraint means to a client: which field clashed, and how to say so. */
export interface UniqueConstraint {
  readonly field: string;
  readonly message: string;
}

/** A table's unique constraints by name, for turning a unique violation (23505) into an AlreadyExistsError. */
export type UniqueConstraints = Readonly<Record<string, UniqueConstraint>>;

// SQLSTATE classes that say "the database cannot serve right now", not "your query is wrong":
// 08 connection exception, 53 insufficient resources, 57 operator intervention
// (57014 statement timeout, 57P01 admin shutdown, 57P03 cannot connect now),
// 40 transaction rollback (serialization failure, deadlock): all worth a retry.
const TRANSIENT_CLASSES = new Set(['08', '53', '57', '40']);

/**
 * Translates a driver error into a domain error, or returns it unchanged when it is a bug
 * (bad SQL, a constraint the HTTP validation should have caught): those become 500s.
 */
export function translateDatabaseError(err: unknown, uniqueConstraints: UniqueConstraints = {}): unknown {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? '';
    if (code === '23505' && err.constraint !== undefined) {
      const known = uniqueConstraints[err.constraint];
      if (known !== undefined) return new AlreadyExistsError(known.message, known.field);
    }
    // 08P01 (protocol violation) is our bug, e.g. a wrong parameter count, not an outage.
    if (TRANSIENT_CLASSES.has(code.slice(0, 2)) && code !== '08P01') {
      return new UnavailableError('The database is unavailable or too slow; retry shortly', 1, { cause: err });
    }
    return err;
  }
  if (isConnectionFailure(err)) {
    return new UnavailableError('The database is unavailable; retry shortly', 1, { cause: err });
  }
  return err;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
// node-postgres reports its own connection failures as plain Errors with these messages:
// pool checkout timeout, client query timeout, a backend killed mid-query, a closed pool.
const DRIVER_CONNECTION_MESSAGES = new RegExp(
  [
    'timeout exceeded when trying to connect',
    'Query read timeout',
    'Connection terminated',
    'not queryable',
    'after calling end on the pool',
  ].join('|'),
);

function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && NETWORK_CODES.has(code)) || DRIVER_CONNECTION_MESSAGES.test(err.message);
}
