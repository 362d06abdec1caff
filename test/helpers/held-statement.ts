import pg from 'pg';
import { vi } from 'vitest';

type Callback = (err: Error | null, result: unknown) => void;

export interface HeldStatement {
  /** Resolves once the held statement has gone out to the database. */
  readonly sent: Promise<void>;
  /** Lets its answer through. */
  release(): void;
  /** Puts pg back as it was (releasing the statement too). */
  restore(): void;
}

/**
 * Holds the answer to the next statement a pool client sends until `release()`: a statement
 * in flight for as long as a test needs. Statements are sent with a callback (queryWithin),
 * and this one's is called late.
 */
export function holdNextStatement(): HeldStatement {
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let markSent = (): void => undefined;
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const realQuery = pg.Client.prototype.query as unknown as (
    this: pg.Client,
    config: unknown,
    callback: Callback,
  ) => void;
  const answerWhenReleased = function (this: pg.Client, config: unknown, callback: Callback): void {
    realQuery.call(this, config, (err, result) => void released.then(() => callback(err, result)));
    markSent();
  } as unknown as typeof pg.Client.prototype.query;
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the callback form, which queryWithin uses
  const spy = vi.spyOn(pg.Client.prototype, 'query').mockImplementationOnce(answerWhenReleased);
  return {
    sent,
    release,
    restore: () => {
      release();
      spy.mockRestore();
    },
  };
}
