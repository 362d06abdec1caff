/**
 * Safe retries of creates (an HTTP Idempotency-Key, and later a gRPC request_id). The
 * contract lives here, on the consuming side; PostgreSQL implements it so that every
 * replica replays the same answer.
 */

/** Who retries: the same key from another caller is another request. */
export interface IdempotentRequest {
  /** The authenticated caller (a token's subject). */
  readonly caller: string;
  readonly key: string;
}

export interface IdempotencyKey extends IdempotentRequest {
  /** The use case, e.g. "products.create": the same key for another use case is another request. */
  readonly operation: string;
  /** The request in a canonical text form: the same key with another request is refused. */
  readonly request: string;
}

/**
 * What creates made, remembered by key for 24 hours. Used inside the create's transaction,
 * so a key's record commits with the resource it names, or not at all.
 */
export interface IdempotencyRecords<T> {
  /**
   * Holds the key until the transaction ends and returns what an earlier request with it
   * created, or null. Throws RequestInProgressError while another transaction holds the
   * key, and IdempotencyKeyReusedError when the earlier request was a different one.
   */
  claim(key: IdempotencyKey): Promise<T | null>;
  /** Remembers what this request created. */
  save(key: IdempotencyKey, created: T): Promise<void>;
}

/** A create's result, and whether it is the replay of an earlier request's. */
export interface Created<T> {
  readonly resource: T;
  readonly replayed: boolean;
}
