import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';

/**
 * Local servers (nats-server, redis-server) started by the tests and by the bench, on
 * 127.0.0.1 and a port of their own. No vitest here: scripts/ imports it too.
 */

/** nats-server with JetStream, its store in `storeDir`. */
export const natsServerArgs = (port: number, storeDir: string): string[] => [
  '-js',
  '-a',
  '127.0.0.1',
  '-p',
  String(port),
  '-sd',
  storeDir,
];

/** redis-server without persistence: a cache. */
export const redisServerArgs = (port: number): string[] => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
];

export function isInstalled(binary: string): boolean {
  return spawnSync(binary, ['--version']).error === undefined;
}

/** Starts `binary` and resolves once it accepts connections on `port`; kills it and throws if it never does. */
export async function startListening(
  binary: string,
  args: readonly string[],
  port: number,
  timeoutMs = 10_000,
): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: 'ignore' });
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`${binary} did not listen on ${port} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return child;
}

/** Sends `signal` and waits until the process is gone. */
export async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
