import type { ChildProcess } from 'node:child_process';
import { isInstalled, redisServerArgs, startListening } from '../../test/helpers/local-server.js';

/** A local redis-server for the bench (no persistence), or null when the binary is missing. */
export async function startRedis(port: number): Promise<ChildProcess | null> {
  return isInstalled('redis-server') ? startListening('redis-server', redisServerArgs(port), port) : null;
}

/** The cache's hits and misses so far, per tier, from the server's /metrics. */
export async function cacheCounts(url: string): Promise<Record<string, { hit: number; miss: number }>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts: Record<string, { hit: number; miss: number }> = {};
  for (const match of text.matchAll(/^cache_requests_total\{[^}]*tier="(\w+)",result="(hit|miss)"\} (\S+)/gm)) {
    const [, tier = '', result = 'hit', value = '0'] = match;
    const entry = (counts[tier] ??= { hit: 0, miss: 0 });
    entry[result as 'hit' | 'miss'] += Number(value);
  }
  return counts;
}

/** Hit ratio per tier between two readings: "near 0.62, shared 0.97". */
export function hitRatios(
  before: Record<string, { hit: number; miss: number }>,
  after: Record<string, { hit: number; miss: number }>,
): string {
  return Object.entries(after)
    .map(([tier, { hit, miss }]) => {
      const hits = hit - (before[tier]?.hit ?? 0);
      const total = hits + miss - (before[tier]?.miss ?? 0);
      return `${tier} ${total > 0 ? (hits / total).toFixed(2) : '–'}`;
    })
    .join(', ');
}
