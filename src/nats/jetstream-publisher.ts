import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, headers, InvalidArgumentError, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { cloudEvent, type DomainEvent } from '../domain/event.js';
import type { EventPublisher, PublishOutcome } from '../services/event-relay.js';

export interface JetStreamSettings {
  readonly url: string;
  readonly stream: string;
  /** Subjects are `<subjectPrefix>.<resource>.<action>`; the stream takes `<subjectPrefix>.>`. */
  readonly subjectPrefix: string;
  readonly maxAgeMs: number;
  /** How long the stream remembers a Nats-Msg-Id: a re-publish within it is dropped. */
  readonly duplicateWindowMs: number;
  /** The largest message the stream stores; -1: the server's limit. */
  readonly maxMessageBytes: number;
  readonly replicas: number;
  readonly publishTimeoutMs: number;
}

/**
 * Publishes events to a JetStream stream, one message per event in CloudEvents structured
 * mode, with Nats-Msg-Id = the event id. The connection is made, and the stream created or
 * brought to the configured settings, in the background and again after the broker comes
 * back: until then every publish answers `unavailable`, and the events wait in the outbox.
 */
export class JetStreamPublisher implements EventPublisher {
  readonly #settings: JetStreamSettings;
  readonly #logger: Logger;
  #connection: NatsConnection | undefined;
  #client: JetStreamClient | undefined;
  #streamReady: Promise<void> | undefined;
  #closed = false;

  constructor(settings: JetStreamSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
  }

  /** Starts connecting; resolves at once (the broker is not needed to serve). */
  start(): void {
    // waitOnFirstConnect: keep dialling a broker that is not up yet, instead of failing.
    connect({
      servers: this.#settings.url,
      name: 'product-user-service outbox relay',
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    }).then(
      (connection) => this.#connected(connection),
      (err: unknown) => this.#logger.error({ err }, 'NATS: cannot connect; events stay in the outbox'),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connection?.drain().catch(() => undefined);
  }

  async publish(events: readonly DomainEvent[]): Promise<PublishOutcome[]> {
    const client = this.#client;
    if (client === undefined || this.#connection?.isClosed() !== false) {
      return events.map(() => ({ status: 'unavailable', reason: 'not connected to NATS' }));
    }
    try {
      await this.#ensureStream();
    } catch (err) {
      const reason = `stream ${this.#settings.stream} not ready: ${errorMessage(err)}`;
      return events.map(() => ({ status: 'unavailable', reason }));
    }
    // Sent in order on one connection, so the stream stores them in order; awaited together.
    return Promise.all(events.map((event) => this.#publishOne(client, event)));
  }

  async #publishOne(client: JetStreamClient, event: DomainEvent): Promise<PublishOutcome> {
    let payload: string;
    try {
      payload = JSON.stringify(cloudEvent(event));
    } catch (err) {
      return { status: 'refused', reason: `cannot serialise: ${errorMessage(err)}` };
    }
    const meta = headers();
    meta.set('content-type', 'application/cloudevents+json; charset=utf-8');
    if (event.traceparent !== null) meta.set('traceparent', event.traceparent);
    try {
      const ack = await client.publish(this.#subject(event.type), payload, {
        msgID: event.id,
        headers: meta,
        timeout: this.#settings.publishTimeoutMs,
      });
      return { status: ack.duplicate ? 'duplicate' : 'published' };
    } catch (err) {
      // The stream answered about this message (too large, …), or the client would not send it.
      if (err instanceof JetStreamApiError || err instanceof InvalidArgumentError) {
        return { status: 'refused', reason: errorMessage(err) };
      }
      // No answer, no stream listening (a broker restarted without it): make sure of it again.
      this.#streamReady = undefined;
      return { status: 'unavailable', reason: errorMessage(err) };
    }
  }

  /** `<prefix>.product.created.v1` → `<subjectPrefix>.product.created`. */
  #subject(type: string): string {
    const [resource, action] = type.split('.').slice(-3, -1);
    return `${this.#settings.subjectPrefix}.${resource ?? 'unknown'}.${action ?? 'unknown'}`;
  }

  #connected(connection: NatsConnection): void {
    if (this.#closed) {
      void connection.close();
      return;
    }
    this.#connection = connection;
    this.#client = jetstream(connection, { timeout: this.#settings.publishTimeoutMs });
    this.#logger.info({ url: this.#settings.url }, 'NATS: connected');
    // At start, not at the first event: consumers may bind to the stream before anything changes.
    this.#ensureStream().catch((err: unknown) =>
      this.#logger.warn({ err }, 'NATS: stream not ready; trying again with the next events'),
    );
    void (async () => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect' || status.type === 'reconnect') {
          this.#logger.warn({ status: status.type }, `NATS: ${status.type}`);
        }
        // A broker that comes back may have lost the stream (memory storage, a new volume).
        if (status.type === 'reconnect') this.#streamReady = undefined;
      }
    })();
  }

  #ensureStream(): Promise<void> {
    this.#streamReady ??= this.#createOrUpdateStream().catch((err: unknown) => {
      this.#streamReady = undefined;
      throw err;
    });
    return this.#streamReady;
  }

  async #createOrUpdateStream(): Promise<void> {
    if (this.#connection === undefined) throw new Error('not connected to NATS');
    const { stream, subjectPrefix, maxAgeMs, duplicateWindowMs, maxMessageBytes, replicas } = this.#settings;
    const manager = await jetstreamManager(this.#connection, { timeout: this.#settings.publishTimeoutMs });
    const config: Partial<StreamConfig> = {
      subjects: [`${subjectPrefix}.>`],
      retention: RetentionPolicy.Limits,
      max_age: nanos(maxAgeMs),
      duplicate_window: nanos(duplicateWindowMs),
      max_msg_size: maxMessageBytes,
      num_replicas: replicas,
    };
    try {
      await manager.streams.info(stream);
      await manager.streams.update(stream, config);
      this.#logger.info({ stream }, 'NATS: stream verified');
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await manager.streams.add({ ...config, name: stream, storage: StorageType.File });
      this.#logger.info({ stream }, 'NATS: stream created');
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
