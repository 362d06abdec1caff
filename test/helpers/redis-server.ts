import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { freePort } from './database-server.js';
import { untilListening } from './nats-server.js';

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
    if (spawnSync('redis-server', ['--version']).error !== undefined) {
      throw new Error('redis-server is not installed (apt-get install redis-server; .ci/run does this)');
    }
    const server = new RedisServer(await freePort());
    await server.resume();
    return server;
  }

  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.#process = child;
    await untilListening(this.port);
  }

  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
