import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Where the server's stdout goes, and whether the bench deletes it after reading it. */
export interface ServerLog {
  readonly path: string | undefined;
  readonly temporary: boolean;
}

/** Memory, not a disk: writing a run's lines to a disk slowed the server (docs/performance.md). */
const MEMORY_DIRECTORY = '/dev/shm';

/**
 * The file `--log` names; else, for a run of the scenarios, a file in /dev/shm that the bench
 * reads at the end and deletes, so that an error answered in any run is found with the line
 * that says why (a run writes about 400 MB); else nowhere (a soak writes gigabytes).
 */
export async function serverLog(given: string | undefined, soak: boolean): Promise<ServerLog> {
  if (given !== undefined) return { path: given, temporary: false };
  if (soak) return { path: undefined, temporary: false };
  try {
    // Fails for a directory that is missing as for one that is not writable.
    await access(MEMORY_DIRECTORY, constants.W_OK);
  } catch {
    return { path: undefined, temporary: false };
  }
  return { path: join(MEMORY_DIRECTORY, `bench-server-${process.pid}.log`), temporary: true };
}

/** One message at warn level or above, how often it was written, and its first line. */
export interface LoggedMessage {
  readonly level: string;
  readonly msg: string;
  readonly count: number;
  readonly first: string;
}

export interface LogSummary {
  readonly lines: number;
  readonly messages: LoggedMessage[];
  /** Access lines of answers ≥ 500, by status and route. */
  readonly serverErrors: Record<string, number>;
}

const FIRST_LINE_CHARS = 800;

/**
 * What a run's log says besides its 2xx access lines: every message at warn level or above
 * (and any line that is not JSON) by level and text, and the access lines of answers ≥ 500 by
 * status and route. Lines are only parsed when they are not plain info lines, so a million of
 * them read in a few seconds.
 */
export async function summariseServerLog(path: string): Promise<LogSummary> {
  const messages = new Map<string, { level: string; msg: string; count: number; first: string }>();
  const serverErrors: Record<string, number> = {};
  let lines = 0;
  const input = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of input) {
    lines += 1;
    const info = line.includes('"level":"info"');
    if (info && !line.includes('"status":5')) continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = { level: 'unparsed', msg: line.slice(0, 200) };
    }
    if (info) {
      if (typeof parsed.status === 'number' && parsed.status >= 500) {
        const key = `${parsed.status} ${String(parsed.method)} ${String(parsed.route)}`;
        serverErrors[key] = (serverErrors[key] ?? 0) + 1;
      }
      continue;
    }
    const level = String(parsed.level);
    const msg = String(parsed.msg);
    const key = `${level} ${msg}`;
    const known = messages.get(key);
    if (known === undefined) messages.set(key, { level, msg, count: 1, first: line.slice(0, FIRST_LINE_CHARS) });
    else known.count += 1;
  }
  return { lines, messages: [...messages.values()], serverErrors };
}

/** The summary as the report prints it. */
export function describeServerLog(summary: LogSummary): string[] {
  const errors = Object.entries(summary.serverErrors).map(([key, n]) => `${key}: ${n}`);
  const warnings = summary.messages.reduce((total, m) => total + m.count, 0);
  return [
    `server log: ${summary.lines.toLocaleString('en-US')} lines; answers ≥ 500 in it: ` +
      `${errors.length === 0 ? 'none' : errors.join('; ')}; lines at warn or above, or not JSON: ` +
      `${warnings === 0 ? 'none' : `${warnings}, by message:`}`,
    ...summary.messages.map((m) => `  ${m.level} × ${m.count}: ${m.msg}\n    first: ${m.first}`),
  ];
}
