import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind, SpanStatusCode, TraceFlags, trace, type Link } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DomainEvent } from '../domain/event.js';
import type { EventPublisher, LedOutbox, OutboxBacklog, OutboxStore, PublishOutcome } from '../services/event-relay.js';

export interface RelaySettings {
  /** How often a relay looks for new events (a pass that found some is followed at once). */
  readonly pollIntervalMs: number;
  /** How often it looks once QUIET_PASSES passes in a row have found nothing (the poll interval if longer). */
  readonly idlePollIntervalMs: number;
  readonly batchSize: number;
  /** Refusals of one event before it is parked. */
  readonly maxAttempts: number;
  /** The pause after the broker was unavailable. */
  readonly retryMs: number;
  /** How long published events stay in the outbox, and so in the feed. */
  readonly retentionMs: number;
  readonly sweepIntervalMs: number;
}

const tracer = trace.getTracer('product-user-service');
/**
 * How often a relay that does not lead asks for the lead (the poll interval if longer): one
 * replica leads, and the others' attempts, at the leader's 20 ms, were a statement each every
 * 20 ms per process for nothing but a failover faster than a second.
 */
const STANDBY_INTERVAL_MS = 1000;
/**
 * Empty passes in a row after which a leader polls at its idle interval: events that come in
 * bursts are still picked up every poll interval, and an outbox that has gone quiet costs a
 * statement every idle interval (100 ms by default) rather than every 20 ms.
 */
const QUIET_PASSES = 5;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Moves committed events out of the outbox. On every replica it tries to lead (one leader at
 * a time, by a lock the store takes per pass); the leader numbers newly committed events in
 * commit order, which is what the feed serves, and, with a broker, publishes them in that
 * order and moves the publishing cursor past those the broker acknowledged. An event the
 * broker refuses `maxAttempts` times is parked so the ones after it can go.
 */
export class OutboxRelay {
  readonly #store: OutboxStore;
  readonly #publisher: EventPublisher | null;
  readonly #settings: RelaySettings;
  readonly #logger: Logger;
  readonly #metrics: RelayMetrics;
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  #retryAt = 0;
  /** After a refusal, the refused event is retried alone, so the ones after it are not sent again meanwhile. */
  #retryAlone = false;
  readonly #acknowledged = new Set<string>();
  /** Where the publishing cursor has got to, not yet written to the outbox. */
  #unwrittenCursor: number | undefined;
  #lastSweep = Date.now();

  constructor(
    store: OutboxStore,
    publisher: EventPublisher | null,
    settings: RelaySettings,
    logger: Logger,
    registry: Registry,
  ) {
    this.#store = store;
    this.#publisher = publisher;
    this.#settings = settings;
    this.#logger = logger;
    this.#metrics = new RelayMetrics(registry, () => this.#store.backlog(this.#publisher !== null));
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  /** Lets the pass in progress finish, then stops and gives up the lead. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    const cursor = this.#unwrittenCursor;
    if (cursor !== undefined) {
      await this.#store
        .lead((outbox) => outbox.publishedThrough(cursor))
        .catch((err: unknown) => this.#logger.warn({ err }, 'outbox relay: the last cursor was not written'));
    }
    this.#store.close();
  }

  /** One pass: lead, number, publish. Exposed for tests that step the relay themselves. */
  async tick(): Promise<{ led: boolean; more: boolean }> {
    try {
      const more = await this.#store.lead((outbox) => this.#pass(outbox));
      return { led: more !== null, more: more === true };
    } catch (err) {
      // The lead is given up with the connection: a cursor not yet written is left to the next leader.
      this.#unwrittenCursor = undefined;
      throw err;
    }
  }

  async #loop(): Promise<void> {
    const signal = this.#stop.signal;
    let quiet = 0;
    while (!signal.aborted) {
      let pause = this.#settings.pollIntervalMs;
      try {
        const { led, more } = await this.tick();
        quiet = led && !more ? quiet + 1 : 0;
        if (more) pause = 0;
        else if (!led) pause = Math.max(pause, STANDBY_INTERVAL_MS);
        else if (quiet >= QUIET_PASSES) pause = Math.max(pause, this.#settings.idlePollIntervalMs);
        await this.#sweepWhenDue();
      } catch (err) {
        // The database is down or refusing: one line per retryMs, not one per poll.
        this.#logger.warn({ err }, 'outbox relay: pass failed; retrying');
        pause = Math.max(pause, this.#settings.retryMs);
      }
      if (pause > 0) await sleep(pause, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Whether the pass found work: then the next starts at once (the poll interval is for an idle outbox). */
  async #pass(outbox: LedOutbox): Promise<boolean> {
    const sequenced = await outbox.sequence(this.#settings.batchSize, this.#unwrittenCursor);
    this.#unwrittenCursor = undefined;
    for (const { type } of sequenced.events) this.#metrics.recorded.inc({ type });
    const busy = sequenced.events.length > 0;
    const backlog = sequenced.lastPosition > sequenced.publishedThrough;
    if (this.#publisher === null || Date.now() < this.#retryAt || !backlog) return busy;
    // Keeping up (the events just numbered are the next to publish): no need to read them again.
    const next = sequenced.events[0]?.position === sequenced.publishedThrough + 1 && !this.#retryAlone;
    const events = next ? sequenced.events : await outbox.unpublished(this.#retryAlone ? 1 : this.#settings.batchSize);
    this.#retryAlone = false;
    if (events.length === 0) return busy;
    const published = await this.#publish(outbox, this.#publisher, events);
    return busy || published > 0;
  }

  /** Publishes `events` in one span linked to each originating request; returns how many went. */
  #publish(outbox: LedOutbox, publisher: EventPublisher, events: readonly DomainEvent[]): Promise<number> {
    const links = events.flatMap((event) => linkTo(event.traceparent));
    return tracer.startActiveSpan(
      'outbox publish',
      {
        kind: SpanKind.PRODUCER,
        links,
        attributes: { 'messaging.system': 'nats', 'messaging.batch.message_count': events.length },
      },
      async (span) => {
        try {
          const count = await this.#publishBatch(outbox, publisher, events);
          span.setAttribute('outbox.published', count);
          return count;
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  async #publishBatch(outbox: LedOutbox, publisher: EventPublisher, events: readonly DomainEvent[]): Promise<number> {
    // Events the broker took while an earlier one was failing are not sent again (by event id:
    // positions given in a pass that rolled back are given again, maybe to other events).
    const fresh = events.filter((event) => !this.#acknowledged.has(event.id));
    const started = process.hrtime.bigint();
    const outcomes = fresh.length === 0 ? [] : await publisher.publish(fresh);
    this.#metrics.publishSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const failures = new Map<string, Extract<PublishOutcome, { reason: string }>>();
    for (const [index, event] of fresh.entries()) {
      const outcome: PublishOutcome = outcomes[index] ?? { status: 'unavailable', reason: 'no outcome' };
      if (outcome.status === 'published' || outcome.status === 'duplicate') {
        this.#acknowledged.add(event.id);
        this.#metrics.published.inc({ type: event.type });
        this.#metrics.lagSeconds.observe(Math.max(0, Date.now() - event.time.getTime()) / 1000);
      } else {
        failures.set(event.id, outcome);
      }
    }
    // The cursor moves through acknowledged (and parked) events up to the first failure.
    let through: number | undefined;
    for (const [index, event] of events.entries()) {
      const failure = failures.get(event.id);
      if (failure === undefined) {
        through = event.position;
        this.#acknowledged.delete(event.id);
        continue;
      }
      this.#metrics.failed.inc({ reason: failure.status });
      if (failure.status === 'unavailable') {
        this.#retryAt = Date.now() + this.#settings.retryMs;
        this.#logger.warn(
          { reason: failure.reason, pending: events.length - index },
          'outbox relay: broker unavailable',
        );
        break;
      }
      const parked = await outbox.refused(event, failure.reason, this.#settings.maxAttempts);
      this.#logger.error(
        { event_id: event.id, type: event.type, reason: failure.reason, parked },
        parked ? 'outbox relay: event parked after repeated refusals' : 'outbox relay: event refused',
      );
      if (!parked) {
        // A refusal may be passing (a stream at its limits): the retries are spread over retryMs each.
        this.#retryAt = Date.now() + this.#settings.retryMs;
        this.#retryAlone = true;
        break;
      }
      this.#metrics.parked.inc();
      through = event.position;
    }
    // Written by the next pass's first statement (or by stop()); lost with the process or a
    // failed pass, and then the next leader sends this batch again, which the stream drops.
    if (through !== undefined) this.#unwrittenCursor = through;
    // Bounded: a leader that lost its lead must not keep ids forever (a re-send is de-duplicated anyway).
    if (this.#acknowledged.size > 10 * this.#settings.batchSize) this.#acknowledged.clear();
    return fresh.length - failures.size;
  }

  async #sweepWhenDue(): Promise<void> {
    if (Date.now() - this.#lastSweep < this.#settings.sweepIntervalMs) return;
    this.#lastSweep = Date.now();
    const before = new Date(Date.now() - this.#settings.retentionMs);
    const deleted = await this.#store.sweep(before, this.#publisher !== null, 10_000);
    if (deleted > 0) this.#logger.info({ deleted }, 'outbox relay: swept events past retention');
  }
}

/** A span link to the request that recorded the event, when it was traced. */
function linkTo(traceparent: string | null): Link[] {
  const match = traceparent === null ? null : TRACEPARENT.exec(traceparent);
  if (match === null) return [];
  const [, traceId = '', spanId = '', flags = '00'] = match;
  const traceFlags = Number.parseInt(flags, 16) & TraceFlags.SAMPLED;
  return [{ context: { traceId, spanId, traceFlags, isRemote: true } }];
}

class RelayMetrics {
  readonly recorded: Counter<'type'>;
  readonly published: Counter<'type'>;
  readonly failed: Counter<'reason'>;
  readonly parked: Counter;
  readonly publishSeconds: Histogram;
  readonly lagSeconds: Histogram;

  constructor(registry: Registry, backlog: () => Promise<OutboxBacklog>) {
    const registers = [registry];
    this.recorded = new Counter({
      name: 'outbox_events_recorded_total',
      help: 'Events recorded with their change, counted when the relay numbers them',
      labelNames: ['type'],
      registers,
    });
    this.published = new Counter({
      name: 'outbox_events_published_total',
      help: 'Events the broker acknowledged (duplicates it dropped included)',
      labelNames: ['type'],
      registers,
    });
    this.failed = new Counter({
      name: 'outbox_publish_failures_total',
      help: 'Events not published on a try: broker unavailable, or the event refused',
      labelNames: ['reason'],
      registers,
    });
    this.parked = new Counter({
      name: 'outbox_events_parked_total',
      help: 'Events set aside after repeated refusals',
      registers,
    });
    this.publishSeconds = new Histogram({
      name: 'outbox_publish_duration_seconds',
      help: 'Time to publish one batch and receive every acknowledgement',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.lagSeconds = new Histogram({
      name: 'outbox_publish_lag_seconds',
      help: 'From the change (its transaction start) to the broker acknowledging its event',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    // Read from the database at scrape time, once for the three gauges: every replica reports
    // the same backlog, so workers of one process are combined by "max", not added up.
    let last: OutboxBacklog = { pending: 0, oldest: null, parked: 0 };
    let reading: { at: number; backlog: Promise<OutboxBacklog> } | undefined;
    const read = (): Promise<OutboxBacklog> => {
      if (reading === undefined || Date.now() - reading.at > 250) {
        const fresh = backlog().then(
          (value) => (last = value),
          () => last,
        );
        reading = { at: Date.now(), backlog: fresh };
      }
      return reading.backlog;
    };
    const gauge = (name: string, help: string, value: (backlog: OutboxBacklog) => number): void => {
      new Gauge({
        name,
        help,
        aggregator: 'max',
        registers,
        async collect() {
          this.set(value(await read()));
        },
      });
    };
    gauge(
      'outbox_pending_events',
      'Events recorded, not yet published (no broker: not yet numbered)',
      (b) => b.pending,
    );
    gauge('outbox_oldest_pending_age_seconds', 'Age of the oldest event not yet published: the lag to alert on', (b) =>
      b.oldest === null ? 0 : Math.max(0, Date.now() - b.oldest.getTime()) / 1000,
    );
    gauge('outbox_parked_events', 'Events parked and still in the outbox', (b) => b.parked);
  }
}
