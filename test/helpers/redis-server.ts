import type { ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { freePort } from './database-server.js';
import { isInstalled, redisServerArgs, startListening, stopProcess } from './local-server.js';

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A real redis-server on a port of its own, without persistence. A machine without the binary
 * fails the test that needs it (never a silent skip): .ci/run installs it.
 */
export class RedisServer {
  readonly port: number;
  readonly url: string;
  #process: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(): Promise<RedisServer> {
    if (!isInstalled('redis-server')) {
      throw new Error('redis-server is not installed (apt-get install redis-server; .ci/run does this)');
    }
    const server = new RedisServer(await freePort());
    await server.resume();
    return server;
  }

  async resume(): Promise<void> {
    const child = await startListening('redis-server', redisServerArgs(this.port), this.port);
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.#process = child;
  }

  /** Kills the server (SIGKILL: a crash, not a shutdown) and waits for it to be gone. */
  stop(): Promise<void> {
    return stopProcess(this.#process, 'SIGKILL');
  }
}
