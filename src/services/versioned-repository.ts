import type { WriteOutcome } from './write-outcome.js';

/**
 * Storage for one kind of versioned resource (products, users), by id. Every method throws
 * UnavailableError when storage cannot be reached.
 */
export interface VersionedRepository<T extends { readonly id: string; readonly version: number }, Fields, Query> {
  insert(id: string, fields: Fields): Promise<T>;
  findById(id: string): Promise<T | null>;
  /**
   * Up to `query.limit` rows after `query.after`, in sort order; callers must not change the array.
   * `signal`: the caller's deadline; when it aborts, the statement is cancelled.
   */
  list(query: Query, signal?: AbortSignal): Promise<readonly T[]>;
  /** Applies the changes and bumps the version in one step, only if the version still matches. */
  update(
    id: string,
    changes: Partial<Fields>,
    expectedVersion?: number,
    signal?: AbortSignal,
  ): Promise<WriteOutcome<T>>;
  delete(id: string, expectedVersion?: number, signal?: AbortSignal): Promise<WriteOutcome<true>>;
}
