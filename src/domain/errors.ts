/**
 * Domain errors carry a stable `code`; the HTTP layer owns the one table that maps a
 * code to a status. Messages are written for API clients: they never hold driver text.
 */
export type DomainErrorCode = 'not_found' | 'conflict' | 'precondition_failed' | 'unprocessable' | 'unavailable';

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

export class ConflictError extends DomainError {
  readonly code = 'conflict';
  /** The request field whose value clashes, e.g. "sku". */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(message);
    this.name = 'ConflictError';
    this.field = field;
  }
}

export class PreconditionFailedError extends DomainError {
  readonly code = 'precondition_failed';
  constructor(message: string) {
    super(message);
    this.name = 'PreconditionFailedError';
  }
}

/** The request is well-formed but contradicts an earlier one (an Idempotency-Key reused with another body). */
export class UnprocessableError extends DomainError {
  readonly code = 'unprocessable';
  constructor(message: string) {
    super(message);
    this.name = 'UnprocessableError';
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
