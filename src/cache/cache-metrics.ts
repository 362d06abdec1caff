import { Counter, Gauge, type Metric, type Registry } from 'prom-client';

/** A count kept as a plain number and added to its counter when scraped. */
export interface Tally {
  count: number;
}

type RequestLabels = { resource: string; tier: 'near' | 'shared'; result: 'hit' | 'miss' };

/** The cache's counters and gauges, per resource and tier; the hit ratio is hits / (hits + misses). */
export class CacheMetrics {
  readonly #requests: Counter<'resource' | 'tier' | 'result'>;
  readonly #tallies: { readonly labels: RequestLabels; readonly tally: Tally }[] = [];
  readonly fills: Counter<'resource'>;
  readonly invalidations: Counter<'resource'>;
  readonly #sizes = new Map<string, () => { entries: number; bytes: number }>();
  readonly #feed: { heardUntil?: () => number } = {};
  readonly #all: Metric[];

  /** Made before the app (whose registry it joins with registerWith): the caches wrap what the services get. */
  constructor() {
    const registers: Registry[] = [];
    const tallies = this.#tallies;
    this.#requests = new Counter({
      name: 'cache_requests_total',
      help: 'Reads by id the cache answered (hit) or passed on (miss), by tier',
      labelNames: ['resource', 'tier', 'result'],
      registers,
      collect() {
        for (const { labels, tally } of tallies) {
          this.inc(labels, tally.count);
          tally.count = 0;
        }
      },
    });
    this.fills = new Counter({
      name: 'cache_fills_total',
      help: 'Entries filled from a read of the tier below',
      labelNames: ['resource'],
      registers,
    });
    this.invalidations = new Counter({
      name: 'cache_invalidations_total',
      help: 'Entries replaced or dropped by a write',
      labelNames: ['resource'],
      registers,
    });
    const sizes = this.#sizes;
    const entries = new Gauge({
      name: 'cache_entries',
      help: 'Entries held, by tier',
      labelNames: ['resource', 'tier'],
      registers,
      collect() {
        for (const [resource, size] of sizes) this.set({ resource, tier: 'near' }, size().entries);
      },
    });
    const bytes = new Gauge({
      name: 'cache_bytes',
      help: 'Approximate bytes held, by tier',
      labelNames: ['resource', 'tier'],
      registers,
      collect() {
        for (const [resource, size] of sizes) this.set({ resource, tier: 'near' }, size().bytes);
      },
    });
    const feed = this.#feed;
    const feedAge = new Gauge({
      name: 'cache_change_feed_age_seconds',
      help: 'Since the last read of committed changes was sent (entries are served while within CACHE_STALENESS_MS)',
      registers,
      collect() {
        if (feed.heardUntil !== undefined) this.set((performance.now() - feed.heardUntil()) / 1000);
      },
    });
    this.#all = [this.#requests, this.fills, this.invalidations, entries, bytes, feedAge];
  }

  /**
   * The count of reads of one resource, tier and result. Counted as a plain number: a near
   * hit is most of a warm read, and prom-client hashes the label set on every increment.
   */
  tally(labels: RequestLabels): Tally {
    const tally = { count: 0 };
    this.#tallies.push({ labels, tally });
    this.#requests.inc(labels, 0);
    return tally;
  }

  registerWith(registry: Registry): void {
    for (const metric of this.#all) registry.registerMetric(metric);
  }

  trackFeed(heardUntil: () => number): void {
    this.#feed.heardUntil = heardUntil;
  }

  track(resource: string, size: () => { entries: number; bytes: number }): void {
    this.#sizes.set(resource, size);
  }
}
