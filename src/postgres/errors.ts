import pg from 'pg';
import { AlreadyExistsError, UnavailableError } from '../domain/errors.js';

/** What a unique constraint means to a client: which field clashed, and how to say so. */
export interface UniqueConstraint {
  readonly field: string;
  readonly message: string;
}

/** A table's unique constraints by name, for turning a unique violation (23505) into an AlreadyExistsError. */
export type UniqueConstraints = Readonly<Record<string, UniqueConstraint>>;

/*
 * How a failure counts (docs/decisions.md, "Database failures"). An *outage* says the database
 * cannot serve anyone: it answers 503 and counts towards opening the circuit breaker. A *busy*
 * failure is about one statement (a lock held from outside, a statement timeout, a conflict
 * between transactions, a full pool queue): it answers 503 with Retry-After too, but never
 * opens the breaker, so one slow row cannot take every other request down with it.
 */
// 08 connection exception (but 08P01, a protocol violation, is our bug), 53 insufficient resources.
const OUTAGE_CLASSES = new Set(['08', '53']);
// 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now.
const OUTAGE_CODES = new Set(['57P01', '57P02', '57P03']);
// 40 transaction rollback (serialization failure, deadlock).
const BUSY_CLASSES = new Set(['40']);
// 57014 statement timeout or cancel, 55P03 lock not available, 25P03 idle-in-transaction timeout.
const BUSY_CODES = new Set(['57014', '55P03', '25P03']);

function sqlState(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError ? (err.code ?? '') : undefined;
}

/** True for a failure that says the database is unreachable or cannot serve: the breaker counts only these. */
export function isOutage(err: unknown): boolean {
  const code = sqlState(err);
  if (code !== undefined) return (OUTAGE_CLASSES.has(code.slice(0, 2)) && code !== '08P01') || OUTAGE_CODES.has(code);
  return isConnectionFailure(err);
}

function isBusy(err: unknown): boolean {
  const code = sqlState(err);
  if (code !== undefined) return BUSY_CLASSES.has(code.slice(0, 2)) || BUSY_CODES.has(code);
  return err instanceof Error && err.message === POOL_WAIT_TIMEOUT;
}

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
  }
  if (isOutage(err)) return new UnavailableError('The database is unavailable; retry shortly', 1, { cause: err });
  if (isBusy(err)) {
    return new UnavailableError('The database could not serve this request in time; retry shortly', 1, { cause: err });
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
/** pg-pool's error when no connection came free within the acquire timeout: busy, not down. */
const POOL_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';
// node-postgres reports its own connection failures as plain Errors with these messages:
// no answer to a statement in time (queryWithin), a backend killed mid-query or a connection
// attempt that timed out ("Connection terminated due to connection timeout"), a closed pool.
const DRIVER_CONNECTION_MESSAGES = new RegExp(
  ['Query read timeout', 'Connection terminated', 'not queryable', 'after calling end on the pool'].join('|'),
);

function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && NETWORK_CODES.has(code)) || DRIVER_CONNECTION_MESSAGES.test(err.message);
}
