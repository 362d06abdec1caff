/**
 * Prints the service's events as they reach the JetStream stream, one CloudEvent JSON per
 * line (`nats sub` for those without the nats CLI). Reads NATS_URL and NATS_STREAM as the
 * service does (default nats://127.0.0.1:4222); `--all` replays the stream from its start.
 *   npm run -s events:tail -- --all | jq -c '{type, subject, resourceversion}'
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfigOrReport } from '../src/config.js';

const config = loadConfigOrReport({ NATS_URL: 'nats://127.0.0.1:4222', ...process.env }, (message) =>
  process.stderr.write(`${message}\n`),
);
if (config?.events.nats === undefined) process.exit(1);
const { url, stream } = config.events.nats;
const connection = await connect({ servers: url });
const consumer = await jetstream(connection)
  .consumers.get(stream, { deliver_policy: process.argv.includes('--all') ? DeliverPolicy.All : DeliverPolicy.New })
  .catch((err: unknown) => {
    process.stderr.write(`stream ${stream} on ${url}: ${String(err)} (the service creates it once connected)\n`);
    process.exit(1);
  });
process.stderr.write(`tailing stream ${stream} on ${url} (Ctrl-C to stop)\n`);
process.once('SIGINT', () => void connection.close());
for await (const message of await consumer.consume()) {
  process.stdout.write(`${message.string()}\n`);
}
