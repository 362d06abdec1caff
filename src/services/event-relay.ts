import type { DomainEvent } from '../domain/event.js';

/**
 * What the relay needs of the outbox. Only one relay leads at a time (across replicas): it
 * numbers committed events in commit order and publishes them in that order.
 */
export interface OutboxStore {
  /** Runs `work` as the one leading relay; null when another relay leads now. */
  lead<T>(work: (outbox: LedOutbox) => Promise<T>): Promise<T | null>;
  /** Gives up the lead, so that another replica takes it at once. */
  close(): void;
  backlog(publishing: boolean): Promise<OutboxBacklog>;
  /** Deletes up to `limit` events, published (or numbered, without a broker) before `before`; parked ones stay. */
  sweep(before: Date, publishing: boolean, limit: number): Promise<number>;
}

export interface OutboxBacklog {
  /** Events recorded but not yet published (without a broker: not yet numbered). */
  readonly pending: number;
  readonly oldest: Date | null;
  readonly parked: number;
}

export interface Sequenced {
  /** The events just numbered, in position order. */
  readonly events: readonly DomainEvent[];
  /** The publishing cursor: every event at or below it was published (or parked). */
  readonly publishedThrough: number;
  /** The highest position given so far. */
  readonly lastPosition: number;
}

/** The outbox as its leading relay sees it (each call is atomic on its own). */
export interface LedOutbox {
  /**
   * Numbers up to `limit` committed, unnumbered events in the order they were written. With
   * `publishedThrough`, the same statement moves the publishing cursor there: the previous
   * pass's, written with this one to save a round trip per pass.
   */
  sequence(limit: number, publishedThrough?: number): Promise<Sequenced>;
  /** Up to `limit` numbered events past the publishing cursor that are not parked, in position order. */
  unpublished(limit: number): Promise<readonly DomainEvent[]>;
  /** Moves the publishing cursor to `position`. */
  publishedThrough(position: number): Promise<void>;
  /** Counts a refusal; at `maxAttempts` the event is parked so that the ones after it can go: returns whether. */
  refused(event: DomainEvent, reason: string, maxAttempts: number): Promise<boolean>;
}

/** How one event's publication went. */
export type PublishOutcome =
  | { readonly status: 'published' }
  | { readonly status: 'duplicate' }
  /** This event cannot go as it is (too large, not serialisable, refused by the stream). */
  | { readonly status: 'refused'; readonly reason: string }
  /** The broker cannot take anything now (down, slow, no stream): try again later. */
  | { readonly status: 'unavailable'; readonly reason: string };

export interface EventPublisher {
  /** Publishes in order; an event's outcome is only final once every earlier one's is. */
  publish(events: readonly DomainEvent[]): Promise<PublishOutcome[]>;
}
