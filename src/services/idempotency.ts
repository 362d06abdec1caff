/**
 * Safe retries of creating requests (Idempotency-Key). The contract lives here, on the
 * consuming side; PostgreSQL implements it so that every replica replays the same answer.
 */

/** Identifies one logical request: the same key from another caller or route is another request. */
export interface IdempotencyKey {
  readonly caller: string;
  readonly route: string;
  readonly key: string;
  /** Hash of the request body: the same key with another body is refused. */
  readonly fingerprint: string;
}

/** An answer exactly as it was first sent. */
export interface RecordedResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface IdempotencyStore {
  /**
   * Runs `work` once per key: its writes and its recorded response commit together, so a
   * crash leaves either both or neither. Later calls with the key get the recorded response
   * (`replayed: true`) without running `work`. Throws ConflictError while another request
   * with the key is running, UnprocessableError when the fingerprint differs. A `work` that
   * throws records nothing, so the client may retry.
   */
  once(
    key: IdempotencyKey,
    work: () => Promise<RecordedResponse>,
  ): Promise<{ response: RecordedResponse; replayed: boolean }>;
}
