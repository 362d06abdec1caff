import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startListening } from '../../test/helpers/local-server.js';

/**
 * The HTTP stack's floor for W1: a bare node:http server, as many processes as the service's
 * workers (node:cluster), answering every request with a fixed 263-byte product and three
 * headers. No framework, no auth, no log line, no metrics: what any Node service pays per
 * request before doing anything, measured by the same wrk load in the same run as W1.
 */
const SERVER = `
const cluster = require('node:cluster');
const { createServer } = require('node:http');
const [port, workers] = process.argv.slice(2).map(Number);
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
}
`;

/** Starts it from a file in `dir` (cluster workers run their primary's script again). */
export async function startFloorServer(port: number, workers: number, dir: string): Promise<ChildProcess> {
  const script = join(dir, 'floor-server.cjs');
  await writeFile(script, SERVER);
  return startListening(process.execPath, [script, String(port), String(workers)], port);
}
