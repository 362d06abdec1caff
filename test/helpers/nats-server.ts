import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll } from 'vitest';
import { freePort } from './database-server.js';
import { isInstalled, natsServerArgs, startListening, stopProcess } from './local-server.js';

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A real nats-server with JetStream, on a port and store directory of its own. A machine
 * without the binary fails the test that needs it (never a silent skip): .ci/run installs it.
 */
export class NatsServer {
  readonly port: number;
  readonly url: string;
  readonly #storeDir: string;
  #process: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.#storeDir = mkdtempSync(join(tmpdir(), 'nats-test-'));
  }

  static async start(): Promise<NatsServer> {
    if (!isInstalled('nats-server')) {
      throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run does this)');
    }
    const server = new NatsServer(await freePort());
    await server.resume();
    return server;
  }

  /** Starts (again) on the same port with the same store: the stream and its messages survive. */
  async resume(): Promise<void> {
    const child = await startListening('nats-server', natsServerArgs(this.port, this.#storeDir), this.port);
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.#process = child;
  }

  /** Stops the broker (SIGTERM) and waits for it to be gone. */
  stop(): Promise<void> {
    return stopProcess(this.#process, 'SIGTERM');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.#storeDir, { recursive: true, force: true });
  }
}

/** One message of the stream, as an independent consumer reads it. */
export interface StreamMessage {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly event: Record<string, unknown>;
}

/** Every message in `stream`, in stream order, read by a client of its own. */
export async function readStream(url: string, stream: string): Promise<StreamMessage[]> {
  const connection: NatsConnection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    const info = await manager.streams.info(stream).catch((err: unknown) => {
      // Not created yet: the relay has not connected.
      if (err instanceof Error && /stream not found/i.test(err.message)) return null;
      throw err;
    });
    if (info === null) return [];
    if (info.state.messages === 0) return [];
    const consumer = await jetstream(connection).consumers.get(stream);
    const messages: StreamMessage[] = [];
    const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 });
    for await (const message of batch) {
      messages.push({
        subject: message.subject,
        msgId: message.headers?.get('Nats-Msg-Id'),
        event: message.json<Record<string, unknown>>(),
      });
      if (messages.length === info.state.messages) break;
    }
    return messages;
  } finally {
    await connection.close();
  }
}
