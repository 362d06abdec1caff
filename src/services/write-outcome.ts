import { NotFoundError, VersionMismatchError } from '../domain/errors.js';

/** What a repository's write reports when it could not apply: the row is gone or has moved on. */
export type WriteOutcome<T> = T | 'not_found' | 'version_mismatch';

/** Optimistic concurrency: the version the client last saw, if it named one. */
export interface WriteCondition {
  readonly expectedVersion?: number | undefined;
  /** The caller's deadline: when it aborts, the write gives up and its statement is cancelled. */
  readonly signal?: AbortSignal | undefined;
}

/** The write's result, or the domain error that says why it did not apply. */
export function settle<T>(outcome: WriteOutcome<T>, resource: string, id: string): T {
  if (outcome === 'not_found') throw new NotFoundError(resource, id);
  if (outcome === 'version_mismatch') {
    throw new VersionMismatchError(`${resource} ${id} has changed since the version given in If-Match`);
  }
  return outcome;
}
