import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { CacheMetrics } from '../../src/cache/cache-metrics.js';
import { CachedRepository } from '../../src/cache/cached-repository.js';
import type { RedisTier, SharedEntry } from '../../src/cache/redis-tier.js';
import type { VersionedRepository } from '../../src/services/versioned-repository.js';
import type { WriteOutcome } from '../../src/services/write-outcome.js';

interface Thing {
  readonly id: string;
  readonly name: string;
  readonly version: number;
}

/** Rows in memory; each read can be held back, to play the slow reader of the cache-aside race. */
class MemoryThings implements VersionedRepository<Thing, { name: string }, unknown> {
  readonly rows = new Map<string, Thing>();
  reads = 0;
  hold: Promise<void> | undefined;

  async insert(id: string, fields: { name: string }): Promise<Thing> {
    const thing = { id, name: fields.name, version: 1 };
    this.rows.set(id, thing);
    return Promise.resolve(thing);
  }
  async findById(id: string): Promise<Thing | null> {
    this.reads += 1;
    const row = this.rows.get(id) ?? null;
    await this.hold;
    return row;
  }
  list(): Promise<readonly Thing[]> {
    return Promise.resolve([...this.rows.values()]);
  }
  update(id: string, changes: Partial<{ name: string }>, expectedVersion?: number): Promise<WriteOutcome<Thing>> {
    const row = this.rows.get(id);
    if (row === undefined) return Promise.resolve('not_found');
    if (expectedVersion !== undefined && expectedVersion !== row.version) return Promise.resolve('version_mismatch');
    const next = { ...row, ...changes, version: row.version + 1 };
    this.rows.set(id, next);
    return Promise.resolve(next);
  }
  delete(id: string): Promise<WriteOutcome<true>> {
    return Promise.resolve(this.rows.delete(id) ? true : 'not_found');
  }
}

/** A change feed that has heard everything up to now, until a test says it stopped hearing. */
class FakeFeed {
  stoppedAt: number | undefined;
  heardUntil(): number {
    return this.stoppedAt ?? performance.now();
  }
}

/** The shared tier's two calls, in memory, with every put kept. */
class MemoryTier {
  readonly entries = new Map<string, SharedEntry>();
  readonly puts: SharedEntry[] = [];
  get(key: string): Promise<SharedEntry | undefined> {
    return Promise.resolve(this.entries.get(key));
  }
  put(key: string, entry: SharedEntry): Promise<void> {
    this.puts.push(entry);
    this.entries.set(key, entry);
    return Promise.resolve();
  }
}

const NEAR = { maxEntries: 1000, maxBytes: 1 << 20, ttlMs: 60_000, stalenessMs: 1000 };

function cached(inner: MemoryThings, feed = new FakeFeed()) {
  return new CachedRepository(inner, 'thing', NEAR, feed, new CacheMetrics());
}

describe('CachedRepository (near-cache)', () => {
  it('answers a repeated read from memory, and what this replica wrote at once', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    await inner.insert('a', { name: 'one' });
    expect(await cache.findById('a')).toMatchObject({ version: 1 });
    expect(await cache.findById('a')).toMatchObject({ version: 1 });
    expect(inner.reads).toBe(1);
    await cache.update('a', { name: 'two' });
    expect(await cache.findById('a')).toMatchObject({ name: 'two', version: 2 });
    expect(inner.reads).toBe(1);
    await cache.delete('a');
    expect(await cache.findById('a')).toBeNull();
    expect(inner.reads).toBe(1);
  });

  it('a slow read that started before a write never puts the older version back', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    await inner.insert('a', { name: 'one' });
    let release = (): void => undefined;
    inner.hold = new Promise((resolve) => (release = resolve));
    const slow = cache.findById('a'); // reads version 1, held back
    await cache.update('a', { name: 'two' }); // version 2, cached
    inner.hold = undefined;
    release();
    expect(await slow).toMatchObject({ version: 1 });
    expect(await cache.findById('a')).toMatchObject({ version: 2 });
    // Nor after a delete: the slow reader cannot bring the row back.
    await inner.insert('c', { name: 'three' });
    inner.hold = new Promise((resolve) => (release = resolve));
    const slower = cache.findById('c');
    await cache.delete('c');
    inner.hold = undefined;
    release();
    expect(await slower).toMatchObject({ version: 1 });
    expect(await cache.findById('c')).toBeNull();
  });

  it('concurrent misses on one id make one read (a thundering herd)', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    await inner.insert('a', { name: 'one' });
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.findById('a')));
    expect(results.every((thing) => thing?.version === 1)).toBe(true);
    expect(inner.reads).toBe(1);
  });

  it('does not cache "not found": an id created later (in a transaction) is read again', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    expect(await cache.findById('later')).toBeNull();
    await inner.insert('later', { name: 'made elsewhere' });
    expect(await cache.findById('later')).toMatchObject({ version: 1 });
  });

  it('a conditional write goes to the repository, and a refused one drops the entry', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    await inner.insert('a', { name: 'one' });
    await cache.findById('a');
    inner.rows.set('a', { id: 'a', name: 'changed by another replica', version: 2 });
    expect(await cache.update('a', { name: 'x' }, 1)).toBe('version_mismatch');
    expect(await cache.findById('a')).toMatchObject({ version: 2 });
  });

  it('a change heard sends the next read to the repository, and a read in flight fills nothing', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    await inner.insert('a', { name: 'one' });
    await cache.findById('a');
    inner.rows.set('a', { id: 'a', name: 'elsewhere', version: 2 });
    expect(await cache.findById('a')).toMatchObject({ version: 1 });
    cache.changedElsewhere('a', 2);
    expect(await cache.findById('a')).toMatchObject({ version: 2 });
    expect(inner.reads).toBe(2);
    // An older change heard late changes nothing.
    cache.changedElsewhere('a', 1);
    expect(await cache.findById('a')).toMatchObject({ version: 2 });
    expect(inner.reads).toBe(2);
    // A read that began before a change was heard answers, but leaves nothing behind.
    let release = (): void => undefined;
    inner.hold = new Promise((resolve) => (release = resolve));
    cache.changedElsewhere('a', 3);
    const slow = cache.findById('a');
    inner.rows.set('a', { id: 'a', name: 'third', version: 3 });
    cache.changedElsewhere('a', 4);
    inner.hold = undefined;
    release();
    await slow;
    inner.rows.set('a', { id: 'a', name: 'fourth', version: 4 });
    expect(await cache.findById('a')).toMatchObject({ version: 4 });
  });

  it('a delete heard from the feed answers "not found" from memory', async () => {
    const inner = new MemoryThings();
    const cache = cached(inner);
    await inner.insert('a', { name: 'one' });
    await cache.findById('a');
    inner.rows.delete('a');
    cache.changedElsewhere('a', 'deleted');
    expect(await cache.findById('a')).toBeNull();
    expect(inner.reads).toBe(1);
  });

  it('serves entries only while the feed has heard everything up to stalenessMs ago', async () => {
    const inner = new MemoryThings();
    const feed = new FakeFeed();
    const cache = new CachedRepository(inner, 'thing', { ...NEAR, stalenessMs: 50 }, feed, new CacheMetrics());
    await inner.insert('a', { name: 'one' });
    await cache.findById('a');
    await cache.findById('a');
    expect(inner.reads).toBe(1);
    feed.stoppedAt = performance.now();
    await cache.findById('a');
    expect(inner.reads).toBe(1);
    await sleep(80);
    await cache.findById('a');
    await cache.findById('a');
    expect(inner.reads).toBe(3);
    feed.stoppedAt = undefined;
    await cache.findById('a');
    expect(inner.reads).toBe(3);
  });

  it('stays within its entry and byte bounds under a scan of every id', async () => {
    const inner = new MemoryThings();
    const metrics = new CacheMetrics();
    const registry = new Registry();
    metrics.registerWith(registry);
    const feed = new FakeFeed();
    const cache = new CachedRepository(inner, 'thing', { ...NEAR, maxEntries: 100 }, feed, metrics);
    const small = new CachedRepository(
      inner,
      'small',
      { ...NEAR, maxEntries: 10_000, maxBytes: 10_000 },
      feed,
      metrics,
    );
    for (let i = 0; i < 2000; i += 1) await inner.insert(`id-${i}`, { name: `thing ${i}` });
    for (let i = 0; i < 2000; i += 1) {
      await cache.findById(`id-${i}`);
      await small.findById(`id-${i}`);
    }
    const entries = (await registry.getSingleMetric('cache_entries')?.get())?.values ?? [];
    const bytes = (await registry.getSingleMetric('cache_bytes')?.get())?.values ?? [];
    expect(entries.find((v) => v.labels.resource === 'thing')?.value).toBe(100);
    expect(bytes.find((v) => v.labels.resource === 'small')?.value).toBeLessThanOrEqual(10_000);
  });

  it('renews an entry read near the end of its TTL in the background: a hot id never misses', async () => {
    const inner = new MemoryThings();
    await inner.insert('hot', { name: 'hot' });
    const metrics = new CacheMetrics();
    const registry = new Registry();
    metrics.registerWith(registry);
    const ttlMs = 1500;
    const cache = new CachedRepository(inner, 'thing', { ...NEAR, ttlMs }, new FakeFeed(), metrics);
    // Two TTLs at most (each entry's is drawn between half and all of ttlMs): without renewal,
    // at least two expiries, each a miss that waits for the repository.
    const started = performance.now();
    while (performance.now() - started < 2 * ttlMs) {
      expect((await cache.findById('hot'))?.name).toBe('hot');
      await sleep(25);
    }
    const requests = (await registry.getSingleMetric('cache_requests_total')?.get())?.values ?? [];
    const misses = requests.find((v) => v.labels.tier === 'near' && v.labels.result === 'miss')?.value;
    // The first read, and at most one more if the machine stalled through a renewal window.
    expect(misses).toBeLessThanOrEqual(2);
    expect(inner.reads).toBeGreaterThanOrEqual(3);
  });

  it('renews the entries that fall due within a moment of each other with one repository call', async () => {
    const inner = new MemoryThings();
    // The turn of the event loop each read was made in (reads of one turn are one statement in PostgreSQL).
    let turn = 0;
    let turnEnds: NodeJS.Immediate | undefined;
    const turns: number[] = [];
    const read = inner.findById.bind(inner);
    inner.findById = (id: string) => {
      turns.push(turn);
      turnEnds ??= setImmediate(() => ((turn += 1), (turnEnds = undefined)));
      return read(id);
    };
    const ids = Array.from({ length: 20 }, (_, i) => `id-${i}`);
    for (const id of ids) await inner.insert(id, { name: id });
    // Every entry's TTL exactly ttlMs (not drawn), so that all twenty fall due together.
    const random = vi.spyOn(Math, 'random').mockReturnValue(1);
    const ttlMs = 3000;
    const cache = new CachedRepository(inner, 'thing', { ...NEAR, ttlMs }, new FakeFeed(), new CacheMetrics());
    try {
      await Promise.all(ids.map((id) => cache.findById(id)));
      turns.length = 0;
      await sleep(ttlMs * (1 - 1 / 6) + 50);
      // Each one read in a turn of its own, in its last sixth: due for renewal.
      for (const id of ids) {
        await cache.findById(id);
        await sleep(5);
      }
      await sleep(200);
    } finally {
      random.mockRestore();
    }
    expect(turns).toHaveLength(ids.length);
    // Gathered for up to 50 ms (a sixtieth of the TTL): a few turns at most, not one per entry.
    expect(new Set(turns).size).toBeLessThanOrEqual(ids.length / 2);
  });

  it('a renewal that finds the version held sends nothing to the shared tier; a newer version it sends', async () => {
    const inner = new MemoryThings();
    await inner.insert('hot', { name: 'hot' });
    const metrics = new CacheMetrics();
    const registry = new Registry();
    metrics.registerWith(registry);
    const shared = new MemoryTier();
    const ttlMs = 600;
    const cache = new CachedRepository(inner, 'thing', { ...NEAR, ttlMs }, new FakeFeed(), metrics, {
      tier: shared as unknown as RedisTier,
      dateFields: [],
    });
    const nearMisses = async () =>
      ((await registry.getSingleMetric('cache_requests_total')?.get())?.values ?? []).find(
        (v) => v.labels.tier === 'near' && v.labels.result === 'miss',
      )?.value ?? 0;
    const readFor = async (ms: number) => {
      const started = performance.now();
      while (performance.now() - started < ms) {
        await cache.findById('hot');
        await sleep(10);
      }
    };
    await cache.findById('hot');
    expect(shared.puts).toEqual([expect.objectContaining({ version: 1 })]);
    shared.entries.clear(); // as if Redis had expired it
    const [readsBefore, missesBefore] = [inner.reads, await nearMisses()];
    await readFor(2 * ttlMs);
    const misses = (await nearMisses()) - missesBefore;
    // Renewed from the repository (more reads than misses), and only a miss (had the machine
    // stalled through a renewal window) would have put the entry back.
    expect(inner.reads - readsBefore).toBeGreaterThan(misses);
    expect(shared.puts.length - 1).toBe(misses);
    // A write made outside the service: the next renewal finds version 2 and sends it.
    inner.rows.set('hot', { id: 'hot', name: 'changed', version: 2 });
    await readFor(2 * ttlMs);
    expect(shared.entries.get('thing:hot')).toMatchObject({ version: 2 });
    expect((await cache.findById('hot'))?.name).toBe('changed');
  });
});
