import type { DomainEvent } from '../domain/event.js';
import type { LedOutbox, OutboxBacklog, OutboxStore, Sequenced } from '../services/event-relay.js';
import type { Database, Session, Sql } from './database.js';
import { EVENT_COLUMNS, toEvent } from './event-log.js';

// Advisory lock key of the leading relay ("outbox" in ASCII).
const RELAY_LOCK = 0x6f7574626f78;

// Numbers the oldest unnumbered committed rows in the order they were written. Rows of one
// resource were written (and committed) one after the other, because each change waits for
// the row lock the previous one held until its commit: their numbers keep that order.
// The relay's cursor comes back with the numbered rows (on every row), so a relay that is
// keeping up publishes them without reading them again; with none numbered, it comes back
// alone, in a row of null event columns: an idle pass is this one statement.
const EVENT_COLUMN_LIST = EVENT_COLUMNS.split(', ');
const SEQUENCE = `WITH batch AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n
    FROM (SELECT id FROM outbox WHERE position IS NULL ORDER BY id LIMIT $1) oldest
  ), counter AS (
    UPDATE outbox_relay SET last_position = last_position + (SELECT count(*) FROM batch),
      published_through = coalesce($2::bigint, published_through)
    -- An idle pass writes nothing (an idle leader still polls, every OUTBOX_IDLE_POLL_INTERVAL_MS).
    WHERE EXISTS (SELECT 1 FROM batch) OR $2::bigint IS NOT NULL
    RETURNING last_position - (SELECT count(*) FROM batch) AS base, last_position, published_through
  ), numbered AS (
    UPDATE outbox SET position = counter.base + batch.n FROM batch, counter
    WHERE outbox.id = batch.id
    RETURNING ${EVENT_COLUMN_LIST.map((column) => `outbox.${column}`).join(', ')},
      counter.last_position, counter.published_through
  )
  SELECT * FROM numbered
  UNION ALL
  -- The statement's snapshot does not show counter's update: counter's row is the newer.
  SELECT ${EVENT_COLUMN_LIST.map(() => 'NULL').join(', ')}, cursor.last_position, cursor.published_through FROM (
    SELECT last_position, published_through FROM counter
    UNION ALL
    SELECT last_position, published_through FROM outbox_relay WHERE NOT EXISTS (SELECT 1 FROM counter)
  ) cursor
  WHERE NOT EXISTS (SELECT 1 FROM numbered)`;

const UNPUBLISHED = `SELECT ${EVENT_COLUMNS} FROM outbox
  WHERE position > (SELECT published_through FROM outbox_relay) AND parked_at IS NULL
  ORDER BY position LIMIT $1`;

const BACKLOG_PUBLISHING = `SELECT count(*)::int AS pending, min(time) AS oldest FROM outbox
  WHERE (position IS NULL OR position > (SELECT published_through FROM outbox_relay)) AND parked_at IS NULL`;
const BACKLOG_NUMBERING = `SELECT count(*)::int AS pending, min(time) AS oldest FROM outbox WHERE position IS NULL`;
const PARKED = `SELECT count(*)::int AS parked FROM outbox WHERE parked_at IS NOT NULL`;

/**
 * The outbox as the relay uses it. One relay leads at a time: the one whose connection holds
 * a session-level advisory lock. The leader keeps that connection, so a pass costs only its
 * own statements (no BEGIN, lock, COMMIT each time); if the process or its connection dies,
 * PostgreSQL frees the lock and another replica's relay takes it at its next pass.
 */
export class PostgresOutboxStore implements OutboxStore {
  /** Where the leader's connection comes from (its own pool in production). */
  readonly #leading: Database;
  /** Scrapes and sweeps, on the shared pool: the leader's connection is never free. */
  readonly #shared: Database;
  #leader: Session | undefined;

  constructor(shared: Database, leading: Database = shared) {
    this.#shared = shared;
    this.#leading = leading;
  }

  async lead<T>(work: (outbox: LedOutbox) => Promise<T>): Promise<T | null> {
    const leader = this.#leader ?? (await this.#becomeLeader());
    if (leader === undefined) return null;
    try {
      return await work(new LedPostgresOutbox(leader.sql));
    } catch (err) {
      // The connection may be broken (or the lock with it): start again from a fresh one.
      this.close();
      throw err;
    }
  }

  /** Gives up the lead (closing the connection frees the lock at once). */
  close(): void {
    this.#leader?.release(new Error('outbox relay: giving up the lead'));
    this.#leader = undefined;
  }

  async #becomeLeader(): Promise<Session | undefined> {
    const session = await this.#leading.session();
    try {
      const lock = await session.sql.query<{ led: boolean }>({
        text: 'SELECT pg_try_advisory_lock($1) AS led',
        values: [RELAY_LOCK],
      });
      if (lock.rows[0]?.led === true) {
        this.#leader = session;
        return session;
      }
      session.release();
      return undefined;
    } catch (err) {
      session.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  async backlog(publishing: boolean): Promise<OutboxBacklog> {
    const [backlog, parked] = await Promise.all([
      this.#shared.query<{ pending: number; oldest: Date | null }>(publishing ? BACKLOG_PUBLISHING : BACKLOG_NUMBERING),
      this.#shared.query<{ parked: number }>(PARKED),
    ]);
    return {
      pending: backlog.rows[0]?.pending ?? 0,
      oldest: backlog.rows[0]?.oldest ?? null,
      parked: parked.rows[0]?.parked ?? 0,
    };
  }

  async sweep(before: Date, publishing: boolean, limit: number): Promise<number> {
    const bound = publishing ? 'published_through' : 'last_position';
    const result = await this.#shared.query({
      text: `DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox WHERE position <= (SELECT ${bound} FROM outbox_relay) AND time < $1
          AND parked_at IS NULL ORDER BY position LIMIT $2)`,
      values: [before, limit],
    });
    return result.rowCount ?? 0;
  }
}

class LedPostgresOutbox implements LedOutbox {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async sequence(limit: number, publishedThrough?: number): Promise<Sequenced> {
    const values = [limit, publishedThrough ?? null];
    const result = await this.#sql.query({ name: 'outbox-sequence', text: SEQUENCE, values });
    const cursor = result.rows[0];
    return {
      events: result.rows
        .filter((row) => row.event_id !== null)
        .map(toEvent)
        .sort((a, b) => a.position - b.position),
      lastPosition: Number(cursor?.last_position ?? 0),
      publishedThrough: Number(cursor?.published_through ?? 0),
    };
  }

  async unpublished(limit: number): Promise<readonly DomainEvent[]> {
    const result = await this.#sql.query({ name: 'outbox-unpublished', text: UNPUBLISHED, values: [limit] });
    return result.rows.map(toEvent);
  }

  async publishedThrough(position: number): Promise<void> {
    await this.#sql.query({ text: 'UPDATE outbox_relay SET published_through = $1', values: [position] });
  }

  async refused(event: DomainEvent, reason: string, maxAttempts: number): Promise<boolean> {
    const result = await this.#sql.query<{ parked: boolean }>({
      text: `UPDATE outbox SET attempts = attempts + 1, parked_reason = $2,
          parked_at = CASE WHEN attempts + 1 >= $3 THEN now() END
        WHERE position = $1 RETURNING parked_at IS NOT NULL AS parked`,
      values: [event.position, reason.slice(0, 1000), maxAttempts],
    });
    return result.rows[0]?.parked === true;
  }
}
