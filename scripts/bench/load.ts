import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly socketErrors: number;
}

/** What a scenario sends: a method/path/body chooser expressed once for both generators. */
export interface Scenario {
  readonly name: string;
  /** wrk Lua that defines request() (and may use the globals below). */
  readonly lua: string;
  /** The same requests for autocannon, when wrk is not installed. */
  readonly next: () => { method: 'GET' | 'POST'; path: string; body?: string };
  /** What the warm-up runs instead of the scenario itself (W1-cold warms up on W1's ids). */
  readonly warmup?: Scenario;
  /** Paths read once, in order, before the warm-up (W1: one pass over its ids). */
  readonly pass?: readonly string[];
  /** Sent to the bare node:http(2) server of floor.ts instead of the service. */
  readonly floor?: boolean;
  /** GetProduct over native gRPC, driven by runGrpcLoad instead of wrk. */
  readonly grpc?: boolean;
}

export async function hasWrk(): Promise<boolean> {
  try {
    await run('wrk', ['--version']).catch((err: { stdout?: string }) => {
      if (!String(err.stdout ?? '').includes('wrk')) throw err;
    });
    return true;
  } catch {
    return false;
  }
}

function luaPrelude(token: string): string {
  return `
local token = "${token}"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
function product_id(n) return string.format("01900000-0000-7000-8000-%012x", n) end
function cold_product_id(n) return string.format("01900000-0000-7000-a000-%012x", n) end
function user_id(n) return string.format("01900000-0000-7000-9000-%012x", n) end
counter = 0
function unique_sku()
  counter = counter + 1
  return string.format("W-%d-%d-%d", os.time(), math.random(1, 1000000000), counter)
end
`;
}

const toMs = (value: string, unit: string) => Number(value) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);

async function runWrk(
  url: string,
  scenario: Scenario,
  token: string,
  connections: number,
  seconds: number,
  dir: string,
): Promise<LoadResult> {
  const script = join(dir, `${scenario.name}.lua`);
  await writeFile(script, `${luaPrelude(token)}\n${scenario.lua}`);
  const { stdout } = await run(
    'wrk',
    ['-t2', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency', '-s', script, url],
    { maxBuffer: 1 << 22 },
  );
  const percentile = (p: string) => {
    const match = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    return match ? toMs(match[1] ?? '0', match[2] ?? 'ms') : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    requests,
    seconds,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

async function runAutocannon(
  url: string,
  scenario: Scenario,
  token: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: [{ setupRequest: (request) => ({ ...request, ...scenario.next() }) }],
  });
  return {
    requests: result.requests.total,
    seconds,
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    socketErrors: result.errors + result.timeouts,
  };
}

export function runLoad(
  generator: 'wrk' | 'autocannon',
  url: string,
  scenario: Scenario,
  token: string,
  connections: number,
  seconds: number,
  dir: string,
): Promise<LoadResult> {
  return generator === 'wrk'
    ? runWrk(url, scenario, token, connections, seconds, dir)
    : runAutocannon(url, scenario, token, connections, seconds);
}
