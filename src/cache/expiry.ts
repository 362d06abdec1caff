/**
 * An entry's time to live, drawn between half of `ttlMs` and all of it. Entries filled
 * together (a warm-up, a scan, a burst after a deploy) then expire over half a TTL instead of
 * in the same instant, which sent every read of a hot set to PostgreSQL at once (W1 p99 131
 * and 141 ms in two of five warm bench rounds, docs/performance.md). Only ever shorter than
 * `ttlMs`, so the bound it sets on an entry's age holds.
 */
export function spreadTtl(ttlMs: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(ttlMs * (0.5 + random() / 2)));
}
