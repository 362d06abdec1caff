import type { DomainEvent } from '../domain/event.js';
import type { EventListQuery, EventLog } from '../services/event-feed.js';
import type { Row, Sql } from './database.js';
import { translateDatabaseError } from './errors.js';

export const EVENT_COLUMNS = 'event_id, type, source, subject, resource_version, time, data, traceparent, position';

/** The feed: numbered events only, so a page never shows an event before one that committed earlier. */
export class PostgresEventLog implements EventLog {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async list(query: EventListQuery): Promise<readonly DomainEvent[]> {
    const values: unknown[] = [];
    const where = ['position IS NOT NULL'];
    const add = (condition: (parameter: string) => string, value: unknown): void => {
      values.push(value);
      where.push(condition(`$${values.length}`));
    };
    if (query.after !== null) add((p) => `position > ${p}::bigint`, query.after.value);
    if (query.filter.type !== undefined) add((p) => `type = ${p}`, query.filter.type);
    if (query.filter.subject !== undefined) add((p) => `subject = ${p}::uuid`, query.filter.subject);
    values.push(query.limit);
    const limit = `LIMIT $${values.length}`;
    const text = `SELECT ${EVENT_COLUMNS} FROM outbox WHERE ${where.join(' AND ')} ORDER BY position ${limit}`;
    try {
      const result = await this.#sql.query({ text, values });
      return result.rows.map(toEvent);
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }
}

export function toEvent(row: Row): DomainEvent {
  return {
    id: row.event_id as string,
    type: row.type as string,
    source: row.source as string,
    subject: row.subject as string,
    time: row.time as Date,
    resourceVersion: row.resource_version as number,
    // json arrives parsed.
    data: row.data,
    traceparent: row.traceparent as string | null,
    // bigint arrives as text; positions stay far below 2^53.
    position: Number(row.position),
  };
}
