import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startListening } from '../../test/helpers/local-server.js';

/**
 * The HTTP stack's floor for W1 (and G1's, below): a bare node:http server, as many processes
 * as the service has workers (node:cluster), answering every request with a fixed 263-byte
 * product and three headers. No framework, no auth, no log line, no metrics: what any Node
 * service pays per request before doing anything, measured by the same load in the same run.
 */
const SERVER = `
const cluster = require('node:cluster');
const { createServer } = require('node:http');
const http2 = require('node:http2');
const [port, grpcPort, workers] = process.argv.slice(2).map(Number);
if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const body = JSON.stringify({
    id: '01900000-0000-7000-8000-000000000001', sku: 'SEED-1', name: 'Seeded product 1',
    description: 'A product made by the benchmark seed', price: 725.54, currency: 'USD',
    created_at: '2026-12-06T14:12:51.065Z', updated_at: '2026-12-06T14:12:51.065Z', version: 1,
  });
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    etag: '"1"',
  };
  createServer((request, response) => {
    response.writeHead(200, headers);
    response.end(body);
  }).listen(port, '127.0.0.1');
  // G1's floor: any call answered with one fixed gRPC message (an empty one) and status 0.
  const reply = Buffer.from([0, 0, 0, 0, 0]);
  const grpc = http2.createServer();
  grpc.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(reply);
    });
  });
  grpc.listen(grpcPort, '127.0.0.1');
}
`;

/**
 * Starts it from a file in `dir` (cluster workers run their primary's script again) with the
 * service's V8 flags (the young generation's size sets what GC costs per request), and
 * G1's floor on `grpcPort`: a bare node:http2 server answering every call with an empty
 * message and grpc-status 0, no gRPC library and no service.
 */
export async function startFloorServer(
  port: number,
  grpcPort: number,
  workers: number,
  dir: string,
  nodeOptions: readonly string[],
): Promise<ChildProcess> {
  const script = join(dir, 'floor-server.cjs');
  await writeFile(script, SERVER);
  const args = [...nodeOptions, script, String(port), String(grpcPort), String(workers)];
  return startListening(process.execPath, args, port);
}
