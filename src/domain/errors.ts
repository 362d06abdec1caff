/**
 * Domain errors carry a stable `code` in the domain's words; each transport owns the one
 * table that maps a code to its own status. Messages are written for API clients: they
 * never hold driver text.
 */
export type DomainErrorCode =
  | 'not_found'
  | 'already_exists'
  | 'version_mismatch'
  | 'request_in_progress'
  | 'idempotency_key_reused'
  | 'unavailable';

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
}

export class NotFoundError extends DomainError {
  readonly code = 'not_found';
  constructor(resource: string, id: string) {
    super(`${resource} ${id} does not exist`);
    this.name = 'NotFoundError';
  }
}

/** A unique field (a product's SKU, a user's e-mail address) is taken by another resource. */
export class AlreadyExistsError extends DomainError {
  readonly code = 'already_exists';
  /** The field whose value clashes, e.g. "sku". */
  readonly field: string;
  constructor(message: string, field: string) {
    super(message);
    this.name = 'AlreadyExistsError';
    this.field = field;
  }
}

/** A write named the version it changes, and the resource has moved on since. */
export class VersionMismatchError extends DomainError {
  readonly code = 'version_mismatch';
  constructor(message: string) {
    super(message);
    this.name = 'VersionMismatchError';
  }
}

/** Another request with the same idempotency key is still running; retry shortly. */
export class RequestInProgressError extends DomainError {
  readonly code = 'request_in_progress';
  constructor(message: string) {
    super(message);
    this.name = 'RequestInProgressError';
  }
}

/** An idempotency key came back with a different request than the one it was first used for. */
export class IdempotencyKeyReusedError extends DomainError {
  readonly code = 'idempotency_key_reused';
  constructor(message: string) {
    super(message);
    this.name = 'IdempotencyKeyReusedError';
  }
}

/** A dependency (the database) is down or too slow; the request may be retried. */
export class UnavailableError extends DomainError {
  readonly code = 'unavailable';
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = 1, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnavailableError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
