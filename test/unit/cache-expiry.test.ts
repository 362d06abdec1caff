import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CacheMetrics } from '../../src/cache/cache-metrics.js';
import { CachedRepository } from '../../src/cache/cached-repository.js';
import { spreadTtl } from '../../src/cache/expiry.js';
import type { VersionedRepository } from '../../src/services/versioned-repository.js';

describe('spreadTtl', () => {
  it('draws between half the TTL and all of it, never longer', () => {
    expect(spreadTtl(60_000, () => 0)).toBe(30_000);
    expect(spreadTtl(60_000, () => 0.999_999)).toBeLessThanOrEqual(60_000);
    expect(spreadTtl(1, () => 0)).toBe(1);
    const drawn = Array.from({ length: 1000 }, () => spreadTtl(60_000));
    expect(Math.min(...drawn)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...drawn)).toBeLessThanOrEqual(60_000);
    // Spread over the range, not clustered.
    expect(Math.max(...drawn) - Math.min(...drawn)).toBeGreaterThan(20_000);
  });
});

describe('entries filled together', () => {
  it('go back to the repository over half a TTL, not in one instant', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `id-${i}`);
    // Reads of each id: the first fills; the next is a renewal (started a moment later) or a miss.
    const reads = new Map<string, number>();
    const rows: VersionedRepository<{ id: string; version: number }, unknown, unknown> = {
      insert: () => Promise.reject(new Error('not used')),
      findById: (id) => {
        reads.set(id, (reads.get(id) ?? 0) + 1);
        return Promise.resolve({ id, version: 1 });
      },
      list: () => Promise.resolve([]),
      update: () => Promise.resolve('not_found'),
      delete: () => Promise.resolve('not_found'),
    };
    const ttlMs = 2000;
    const repository = new CachedRepository(
      rows,
      'thing',
      { maxEntries: 1000, maxBytes: 1 << 20, ttlMs, stalenessMs: 60_000 },
      { heardUntil: () => performance.now() },
      new CacheMetrics(),
    );
    for (const id of ids) await repository.findById(id);
    // Poll every id until each has been read again (renewed or missed); note in which poll.
    const firstMiss = new Map<string, number>();
    const started = performance.now();
    for (let poll = 0; firstMiss.size < ids.length && performance.now() - started < 3 * ttlMs; poll++) {
      for (const id of ids) if (!firstMiss.has(id)) await repository.findById(id);
      await sleep(50);
      for (const id of ids) if (!firstMiss.has(id) && (reads.get(id) ?? 0) > 1) firstMiss.set(id, poll);
    }
    expect(firstMiss.size).toBe(ids.length);
    // The same TTL for all would send them back in one poll (two if it straddled one);
    // spread over a second, they go back across many.
    expect(new Set(firstMiss.values()).size).toBeGreaterThanOrEqual(5);
  });
});
