import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import {
  connect,
  createInbox,
  headers,
  InvalidArgumentError,
  nanos,
  type Msg,
  type NatsConnection,
} from '@nats-io/transport-node';
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
  #streamReady: Promise<void> | undefined;
  #closed = false;
  /** Acknowledgements arrive on `<inbox>.<token>`; each publish waits in here for its own. */
  #inbox = '';
  readonly #awaiting = new Map<string, (outcome: PublishOutcome) => void>();
  #nextToken = 0;

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
      // Otherwise every publish builds two Error objects (stack traces) up front, in case it
      // fails: a sixth of the relay's CPU. The outcomes carry the reason without them.
      noAsyncTraces: true,
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
    const connection = this.#connection;
    if (connection === undefined || connection.isClosed()) {
      return events.map(() => ({ status: 'unavailable', reason: 'not connected to NATS' }));
    }
    try {
      await this.#ensureStream();
    } catch (err) {
      const reason = `stream ${this.#settings.stream} not ready: ${errorMessage(err)}`;
      return events.map(() => ({ status: 'unavailable', reason }));
    }
    // Sent in order on one connection, so the stream stores them in order; the acknowledgements
    // come back on one subscription, and one timer bounds the whole batch.
    const outcomes = events.map((event) => this.#send(connection, event));
    const timer = setTimeout(() => {
      for (const [token, settle] of this.#awaiting) {
        this.#awaiting.delete(token);
        settle({ status: 'unavailable', reason: `no acknowledgement within ${this.#settings.publishTimeoutMs} ms` });
      }
    }, this.#settings.publishTimeoutMs);
    try {
      return await Promise.all(outcomes);
    } finally {
      clearTimeout(timer);
    }
  }

  #send(connection: NatsConnection, event: DomainEvent): Promise<PublishOutcome> {
    let payload: string;
    try {
      payload = JSON.stringify(cloudEvent(event));
    } catch (err) {
      return Promise.resolve({ status: 'refused', reason: `cannot serialise: ${errorMessage(err)}` });
    }
    const meta = headers();
    meta.set('Nats-Msg-Id', event.id);
    meta.set('content-type', 'application/cloudevents+json; charset=utf-8');
    if (event.traceparent !== null) meta.set('traceparent', event.traceparent);
    const token = String((this.#nextToken += 1));
    const outcome = new Promise<PublishOutcome>((resolve) => this.#awaiting.set(token, resolve));
    try {
      connection.publish(this.#subject(event.type), payload, { reply: `${this.#inbox}.${token}`, headers: meta });
    } catch (err) {
      this.#awaiting.delete(token);
      // Larger than the server's max_payload: this event can never go as it is.
      if (err instanceof InvalidArgumentError) return Promise.resolve({ status: 'refused', reason: errorMessage(err) });
      return Promise.resolve({ status: 'unavailable', reason: errorMessage(err) });
    }
    return outcome;
  }

  /** One acknowledgement: the stream stored the event (or had it already), refused it, or none listens. */
  #acknowledged(message: Msg): void {
    const token = message.subject.slice(this.#inbox.length + 1);
    const settle = this.#awaiting.get(token);
    if (settle === undefined) return;
    this.#awaiting.delete(token);
    if (message.headers?.code === 503) {
      // No stream takes the subject (a broker restarted without it): make sure of it again.
      this.#streamReady = undefined;
      settle({ status: 'unavailable', reason: 'no stream answered (503)' });
      return;
    }
    const ack = message.json<PubAckResponse>();
    if (ack.error !== undefined)
      settle({ status: 'refused', reason: ack.error.description ?? `error ${ack.error.code}` });
    else settle({ status: ack.duplicate === true ? 'duplicate' : 'published' });
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
    this.#inbox = createInbox();
    connection.subscribe(`${this.#inbox}.*`, { callback: (_err, message) => this.#acknowledged(message) });
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

/** What JetStream answers a publish: a PubAck, or an API error. */
interface PubAckResponse {
  readonly stream?: string;
  readonly seq?: number;
  readonly duplicate?: boolean;
  readonly error?: { readonly code: number; readonly err_code?: number; readonly description?: string };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
