import pg from 'pg';
import type { Logger } from 'pino';

export interface OutboxChangesSettings {
  /** Where and how to connect (the reader keeps one connection of its own). */
  readonly connection: pg.ClientConfig;
  /** How often it reads the changes committed since its last read. */
  readonly pollMs: number;
}

/** A committed change: the resource ('product', 'user'), its id, and its version now. */
export type OnChange = (resource: string, id: string, version: number | 'deleted') => void;

// Where to start: every transaction below the snapshot's xmin has ended.
const START = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, '[]'::json AS changes`;
// Every row of a transaction that may have committed since the last read's xmin, and the new xmin.
const READ = `
  SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
         (SELECT coalesce(json_agg(json_build_array(type, subject, resource_version)), '[]')
            FROM outbox WHERE xid >= $1::xid8) AS changes`;

/**
 * Follows every committed change to products and users, whichever replica made it, from the
 * outbox rows each write commits with it. Each read returns the rows of every transaction at
 * or above the previous read's snapshot xmin, so no commit is missed, whatever order
 * transactions committed in, and however long a read failed; rows seen twice are simply told
 * twice (the caches ignore a version they already have). `heardUntil()` is when the last
 * successful read was sent: every change committed before then has been told, which bounds
 * how stale anything the caches hold can be. One connection of its own, so that a busy pool
 * never delays it.
 */
export class OutboxChanges {
  readonly #settings: OutboxChangesSettings;
  readonly #logger: Logger;
  readonly #onChange: OnChange;
  #heardUntil = -Infinity;
  /** Where the next read starts; until the first read, nothing before it matters (the caches are empty). */
  #xmin: string | undefined;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #failing = false;
  #firstRead: () => void = () => undefined;

  constructor(settings: OutboxChangesSettings, logger: Logger, onChange: OnChange) {
    this.#settings = settings;
    this.#logger = logger;
    this.#onChange = onChange;
  }

  /** Starts reading; resolves after the first read, or after `waitMs` (the caches serve nothing until then). */
  start(waitMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      // Not unref'd: a caller awaiting start() (at the top level, say) must get its answer.
      const timer = setTimeout(resolve, waitMs);
      this.#firstRead = () => {
        clearTimeout(timer);
        resolve();
      };
      void this.#read();
    });
  }

  /** Every change committed before this moment (performance.now()) has been told; -Infinity before the first read. */
  heardUntil(): number {
    return this.#heardUntil;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #read(): Promise<void> {
    const sentAt = performance.now();
    try {
      const client = await this.#connection();
      // The first read only sets where to start: the caches hold nothing older than it.
      const { rows } = await client.query<{ xmin: string; changes: [string, string, number][] }>(
        this.#xmin === undefined ? START : READ,
        this.#xmin === undefined ? [] : [this.#xmin],
      );
      const [row] = rows;
      if (row === undefined) throw new Error('no row');
      for (const change of row.changes) this.#tell(change);
      this.#xmin = row.xmin;
      this.#heardUntil = sentAt;
      this.#firstRead();
      if (this.#failing) this.#logger.info('outbox changes: reading again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing)
        this.#logger.warn({ err }, 'outbox changes: read failed; cached reads wait until one succeeds');
      this.#failing = true;
      const client = this.#client;
      this.#client = undefined;
      void client?.end().catch(() => undefined);
    }
    if (this.#closed) {
      await this.close();
      return;
    }
    this.#timer = setTimeout(() => void this.#read(), this.#settings.pollMs);
    this.#timer.unref();
  }

  async #connection(): Promise<pg.Client> {
    if (this.#client !== undefined) return this.#client;
    const client = new pg.Client({
      ...this.#settings.connection,
      keepAlive: true,
      // A read that gets no answer (a half-open connection) fails, and the next opens a new one.
      query_timeout: Math.max(1000, this.#settings.pollMs * 5),
      application_name: 'product-user-service outbox changes',
    });
    // A failure between reads: the next read notices (the client is ended then).
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.#client = client;
    return client;
  }

  /** `<prefix>.<resource>.<action>.v1` → the resource, the id, and the version it now has. */
  #tell([type, subject, version]: [string, string, number]): void {
    const parts = type.split('.');
    const action = parts.at(-2);
    this.#onChange(parts.at(-3) ?? '', subject, action === 'deleted' ? 'deleted' : version);
  }
}
