import { createServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';

export interface GrpcServer {
  readonly server: Http2Server;
  /**
   * Stops accepting, lets calls in flight finish, then ends every connection; connections
   * still open after `graceMs` (a client that never finishes sending) are destroyed.
   */
  close(graceMs?: number): Promise<void>;
}

/** Native gRPC (HTTP/2 cleartext, as grpc-js clients and the kubelet's grpc probe speak it). */
export function createGrpcServer(routes: (router: ConnectRouter) => void, maxMessageBytes: number): GrpcServer {
  const sessions = new Set<ServerHttp2Session>();
  const server = createServer(connectNodeAdapter({ routes, readMaxBytes: maxMessageBytes }));
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return {
    server,
    close: (graceMs = 5000) =>
      new Promise((resolve) => {
        const force = setTimeout(() => {
          for (const session of sessions) session.destroy();
        }, graceMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        // A graceful GOAWAY: calls in flight finish, no new stream starts on the session.
        for (const session of sessions) session.close();
      }),
  };
}
