import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// A failing assertion must not leave a server running after its test file: every child
// this helper starts is killed when the file ends, whether or not the test got to do it.
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ChildService {
  readonly url: string;
  readonly process: ChildProcess;
  /** Every JSON log line the service has written to stdout so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

/**
 * Runs the service as Kubernetes would: its own process, OpenTelemetry preloaded with
 * --import, configured only by environment, stopped by signals. TypeScript runs through
 * tsx's loader, so no build step is needed.
 */
export function startChildService(
  env: Record<string, string>,
  options: { preload?: string; timeoutMs?: number } = {},
): Promise<ChildService> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const preload = options.preload === undefined ? [] : ['--import', options.preload];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', './src/telemetry/preload.ts', ...preload, 'src/main.ts'],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        // A port of its own for native gRPC, so that services started side by side do not collide.
        GRPC_PORT: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`service did not start in ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'listening') {
          const service = { url: String(entry.url), process: child, logs, exited };
          // Like a Kubernetes readiness gate: no traffic until /readyz says so (a cold start
          // on a busy machine may shed load for a moment).
          void waitUntilReady(service.url, timeoutMs).then(() => {
            clearTimeout(timer);
            resolve(service);
          }, reject);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
}

async function waitUntilReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not become ready within ${timeoutMs} ms`);
}
