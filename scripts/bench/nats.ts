import type { ChildProcess } from 'node:child_process';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { isInstalled, natsServerArgs, startListening } from '../../test/helpers/local-server.js';

/** A local nats-server with JetStream for the bench, or null when the binary is missing. */
export async function startNats(port: number, storeDir: string): Promise<ChildProcess | null> {
  return isInstalled('nats-server') ? startListening('nats-server', natsServerArgs(port, storeDir), port) : null;
}

export interface EventLag {
  readonly received: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * An independent subscriber: for every new message in `stream`, the time from the change (the
 * event's `time`, its transaction's start) to the message reaching this consumer.
 */
export async function watchEventLag(url: string, stream: string): Promise<{ stop: () => Promise<EventLag> }> {
  const connection = await connect({ servers: url });
  for (let i = 0; i < 100; i++) {
    // The service creates the stream once it has connected.
    const exists = await (await jetstreamManager(connection)).streams.info(stream).then(
      () => true,
      () => false,
    );
    if (exists) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const consumer = await jetstream(connection).consumers.get(stream, { deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume();
  const lags: number[] = [];
  const reading = (async () => {
    for await (const message of messages) {
      const { time } = message.json<{ time: string }>();
      lags.push(Date.now() - Date.parse(time));
    }
  })();
  return {
    stop: async () => {
      await messages.close();
      await reading.catch(() => undefined);
      await connection.close();
      const sorted = lags.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
      return { received: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99) };
    },
  };
}
