import { NotFoundError, PreconditionFailedError } from '../domain/errors.js';
import { newId } from '../domain/id.js';
import { toPage, type ListQuery, type Page } from '../domain/page.js';

/** What a write reports when it could not apply: the row is gone or has moved on. */
export type WriteOutcome<T> = T | 'not_found' | 'version_mismatch';

/**
 * The storage a resource's use cases need. Implementations throw ConflictError when a
 * unique key is taken and UnavailableError when storage cannot be reached.
 */
export interface ResourceRepository<T, Fields, SortField extends string, Filter> {
  insert(id: string, fields: Fields): Promise<T>;
  findById(id: string): Promise<T | null>;
  /**
   * Up to `query.limit` rows after `query.after`, in sort order. May hand the same read-only
   * array to callers that asked the same query at the same time (see ResourceService.list);
   * a different query never gets another's array.
   */
  list(query: ListQuery<SortField, Filter>): Promise<readonly T[]>;
  /** Applies the changes and bumps the version in one statement, only if the version still matches. */
  update(id: string, changes: Partial<Fields>, expectedVersion: number | undefined): Promise<WriteOutcome<T>>;
  delete(id: string, expectedVersion: number | undefined): Promise<WriteOutcome<true>>;
}

/** Optimistic concurrency: the version the client last saw (from If-Match), if it sent one. */
export interface WriteCondition {
  readonly expectedVersion?: number | undefined;
}

interface ResourceDefinition<T, Fields, SortField extends string> {
  /** Human name used in error messages, e.g. "Product". */
  readonly name: string;
  readonly sortValue: (item: T, field: SortField) => string;
  /** Domain normalisation applied to every write (e.g. lower-casing e-mail addresses). */
  readonly normalise: (fields: Partial<Fields>) => Partial<Fields>;
}

/**
 * The use cases shared by every resource of this service: create, read, list, update,
 * replace and delete with optimistic concurrency. Products and users differ only in their
 * fields and rules, which live in domain/.
 */
export class ResourceService<T extends { id: string }, Fields, SortField extends string, Filter> {
  readonly #repository: ResourceRepository<T, Fields, SortField, Filter>;
  readonly #definition: ResourceDefinition<T, Fields, SortField>;
  /** Pages by the result they were made from; weak, so they live as long as a caller holds them. */
  readonly #pages = new WeakMap<readonly T[], Page<T>>();

  constructor(
    repository: ResourceRepository<T, Fields, SortField, Filter>,
    definition: ResourceDefinition<T, Fields, SortField>,
  ) {
    this.#repository = repository;
    this.#definition = definition;
  }

  async create(fields: Fields): Promise<T> {
    // normalise keeps the keys it is given, so a full set of fields stays a full set.
    return this.#repository.insert(newId(), this.#definition.normalise(fields) as Fields);
  }

  async get(id: string): Promise<T> {
    const found = await this.#repository.findById(id);
    if (found === null) throw new NotFoundError(this.#definition.name, id);
    return found;
  }

  /**
   * Callers whose identical queries were answered by one shared result also share the page
   * made from it, so whoever presents the page can do that once for all of them.
   */
  async list(query: ListQuery<SortField, Filter>): Promise<Page<T>> {
    const rows = await this.#repository.list({ ...query, limit: query.limit + 1 });
    let page = this.#pages.get(rows);
    if (page === undefined) {
      page = toPage(rows, query.limit, (item) => this.#definition.sortValue(item, query.sort.field));
      this.#pages.set(rows, page);
    }
    return page;
  }

  /** Changes only the given fields (PATCH). */
  async update(id: string, changes: Partial<Fields>, condition: WriteCondition = {}): Promise<T> {
    const outcome = await this.#repository.update(id, this.#definition.normalise(changes), condition.expectedVersion);
    return this.#settle(id, outcome);
  }

  /** Replaces every client-owned field (PUT); omitted optional fields return to their defaults. */
  async replace(id: string, fields: Fields, condition: WriteCondition = {}): Promise<T> {
    return this.update(id, fields, condition);
  }

  async delete(id: string, condition: WriteCondition = {}): Promise<void> {
    this.#settle(id, await this.#repository.delete(id, condition.expectedVersion));
  }

  #settle<R>(id: string, outcome: WriteOutcome<R>): R {
    if (outcome === 'not_found') throw new NotFoundError(this.#definition.name, id);
    if (outcome === 'version_mismatch') {
      throw new PreconditionFailedError(
        `${this.#definition.name} ${id} has changed since the version given in If-Match`,
      );
    }
    return outcome;
  }
}
