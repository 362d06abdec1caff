import type { IncomingHttpHeaders } from 'node:http';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { create, toBinary } from '@bufbuild/protobuf';
import { GetProductRequestSchema } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import type { LoadResult } from './load.js';

const PATH = '/productuser.v1.ProductService/GetProduct';
const SEEDED = 10_000;
const hex = (n: number) => n.toString(16).padStart(12, '0');

/** Each seeded id's GetProduct request as a gRPC frame: flag byte, 4-byte length, the message. */
function requestFrames(): Buffer[] {
  return Array.from({ length: SEEDED }, (_, i) => {
    const name = `products/01900000-0000-7000-8000-${hex(i + 1)}`;
    const message = toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { name }));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    return frame;
  });
}

/** One call; resolves with its grpc-status ('0': OK), from the trailers (or an error's headers, without a body). */
function call(session: ClientHttp2Session, frame: Buffer, authorization: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': '5S',
      authorization,
    });
    let status: string | undefined;
    const read = (headers: IncomingHttpHeaders) => (status = headers['grpc-status'] as string | undefined);
    stream.on('response', read);
    stream.on('trailers', read);
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.on('close', () => resolve(status));
    stream.end(frame);
  });
}

/**
 * G1: GetProduct over native gRPC, random seeded ids. A Node load client (no gRPC load tool
 * installs here) kept as light as wrk is for W1, so that the client does not take the
 * server's CPU: node:http2 with each request's frame encoded beforehand. One virtual user per
 * connection, each with an HTTP/2 connection of its own, one call in flight at a time, as
 * wrk's connections are for W1. A call counts as failed unless its grpc-status is 0.
 */
export async function runGrpcLoad(
  grpcUrl: string,
  token: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const frames = requestFrames();
  const authorization = `Bearer ${token}`;
  const latencies: number[] = [];
  let failures = 0;
  let socketErrors = 0;
  const failedWith = new Map<string, number>();
  const deadline = performance.now() + seconds * 1000;
  const user = async () => {
    const session = connect(grpcUrl);
    session.on('error', () => socketErrors++);
    try {
      while (performance.now() < deadline) {
        const started = performance.now();
        const status = await call(session, frames[Math.floor(Math.random() * SEEDED)] as Buffer, authorization).catch(
          () => 'error',
        );
        if (status === '0') latencies.push(performance.now() - started);
        else {
          const code = status ?? 'none';
          failures++;
          failedWith.set(code, (failedWith.get(code) ?? 0) + 1);
        }
      }
    } finally {
      session.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, user));
  if (failures > 0) console.error(`G1 failed calls by grpc-status: ${JSON.stringify(Object.fromEntries(failedWith))}`);
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return {
    requests: latencies.length + failures,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    non2xx: failures,
    socketErrors,
  };
}
