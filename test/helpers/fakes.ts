import { AlreadyExistsError, RequestInProgressError, IdempotencyKeyReusedError } from '../../src/domain/errors.js';
import type { ListQuery } from '../../src/domain/page.js';
import type { IdempotencyKey, IdempotencyRecords } from '../../src/services/idempotency.js';
import type { UnitOfWork } from '../../src/services/unit-of-work.js';
import type { WriteOutcome } from '../../src/services/write-outcome.js';

interface Stored {
  readonly id: string;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * A small fake of a resource repository (ProductRepository, UserRepository) for service unit
 * tests: keyset order over a sort value, a unique key, and version checks, with none of
 * PostgreSQL's cost.
 */
export class InMemoryRepository<T extends Stored, Fields extends object, SortField extends string, Filter> {
  rows = new Map<string, T>();
  readonly #uniqueKey: keyof Fields & string;
  readonly #sortValue: (row: T, field: SortField) => string;

  constructor(uniqueKey: keyof Fields & string, sortValue: (row: T, field: SortField) => string) {
    this.#uniqueKey = uniqueKey;
    this.#sortValue = sortValue;
  }

  #assertUnique(id: string, fields: Partial<Fields>): void {
    const wanted = fields[this.#uniqueKey];
    if (wanted === undefined) return;
    for (const row of this.rows.values()) {
      const existing = (row as unknown as Fields)[this.#uniqueKey];
      if (row.id !== id && String(existing).toLowerCase() === String(wanted).toLowerCase()) {
        throw new AlreadyExistsError(`${this.#uniqueKey} is taken`, this.#uniqueKey);
      }
    }
  }

  insert(id: string, fields: Fields): Promise<T> {
    this.#assertUnique(id, fields);
    const now = new Date();
    const row = { ...fields, id, version: 1, createdAt: now, updatedAt: now } as unknown as T;
    this.rows.set(id, row);
    return Promise.resolve(row);
  }

  findById(id: string): Promise<T | null> {
    return Promise.resolve(this.rows.get(id) ?? null);
  }

  list(query: ListQuery<SortField, Filter>): Promise<readonly T[]> {
    const sign = query.sort.direction === 'asc' ? 1 : -1;
    const key = (row: T): [string, string] => [this.#sortValue(row, query.sort.field), row.id];
    const compare = (a: [string, string], b: [string, string]) =>
      sign * (a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
    const after = query.after;
    const rows = [...this.rows.values()]
      .filter((row) => after === null || compare(key(row), [after.value, after.id]) > 0)
      .sort((a, b) => compare(key(a), key(b)));
    return Promise.resolve(rows.slice(0, query.limit));
  }

  update(id: string, changes: Partial<Fields>, expectedVersion?: number): Promise<WriteOutcome<T>> {
    const row = this.rows.get(id);
    if (row === undefined) return Promise.resolve('not_found');
    if (expectedVersion !== undefined && row.version !== expectedVersion) return Promise.resolve('version_mismatch');
    this.#assertUnique(id, changes);
    const updated = { ...row, ...changes, version: row.version + 1, updatedAt: new Date() };
    this.rows.set(id, updated);
    return Promise.resolve(updated);
  }

  delete(id: string, expectedVersion?: number): Promise<WriteOutcome<true>> {
    const row = this.rows.get(id);
    if (row === undefined) return Promise.resolve('not_found');
    if (expectedVersion !== undefined && row.version !== expectedVersion) return Promise.resolve('version_mismatch');
    this.rows.delete(id);
    return Promise.resolve(true);
  }
}

/** Idempotency records in memory: a key is held from its claim until its transaction ends. */
export class InMemoryIdempotencyRecords<T> implements IdempotencyRecords<T> {
  rows = new Map<string, { readonly request: string; readonly created: T }>();
  readonly held = new Set<string>();

  claim(key: IdempotencyKey): Promise<T | null> {
    const id = identity(key);
    if (this.held.has(id)) return Promise.reject(new RequestInProgressError('still being processed'));
    this.held.add(id);
    const earlier = this.rows.get(id);
    if (earlier === undefined) return Promise.resolve(null);
    if (earlier.request !== key.request) return Promise.reject(new IdempotencyKeyReusedError('another request'));
    return Promise.resolve(earlier.created);
  }

  save(key: IdempotencyKey, created: T): Promise<void> {
    this.rows.set(identity(key), { request: key.request, created });
    return Promise.resolve();
  }
}

const identity = (key: IdempotencyKey) => `${key.caller}\n${key.operation}\n${key.key}`;

/**
 * Transactions over in-memory fakes: what `work` wrote to `repository` and `records` is undone
 * when it throws, and the keys it claimed are let go when it ends.
 */
export function inMemoryTransactions<Repositories>(
  repositories: Repositories,
  repository: { rows: Map<string, unknown> },
  records: InMemoryIdempotencyRecords<unknown>,
): UnitOfWork<Repositories> {
  return {
    async transaction(work) {
      const [rows, stored, held] = [new Map(repository.rows), new Map(records.rows), new Set(records.held)];
      try {
        return await work(repositories);
      } catch (err) {
        repository.rows = rows;
        records.rows = stored;
        throw err;
      } finally {
        for (const key of records.held) if (!held.has(key)) records.held.delete(key);
      }
    },
  };
}
