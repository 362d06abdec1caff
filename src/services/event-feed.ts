import type { DomainEvent } from '../domain/event.js';
import { toPage, type Page, type Position } from '../domain/page.js';

export interface EventFilter {
  /** The exact CloudEvents type. */
  readonly type?: string | undefined;
  /** One resource's events. */
  readonly subject?: string | undefined;
}

export interface EventListQuery {
  /** The last event a reader has seen: its position (as text) and id. */
  readonly after: Position | null;
  readonly limit: number;
  readonly filter: EventFilter;
}

/** The recorded events, in commit order; only events whose place in that order is final. */
export interface EventLog {
  list(query: EventListQuery): Promise<readonly DomainEvent[]>;
}

/** Replay over plain reads: any consumer can walk the events from any point. */
export class EventFeed {
  readonly #log: EventLog;

  constructor(log: EventLog) {
    this.#log = log;
  }

  /** One extra event is fetched: it only proves that a next page exists. */
  async list(query: EventListQuery): Promise<Page<DomainEvent>> {
    const events = await this.#log.list({ ...query, limit: query.limit + 1 });
    return toPage(events, query.limit, (event) => String(event.position));
  }
}
