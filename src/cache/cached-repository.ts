import { trace } from '@opentelemetry/api';
import { LRUCache } from 'lru-cache';
import type { VersionedRepository } from '../services/versioned-repository.js';
import type { WriteOutcome } from '../services/write-outcome.js';
import type { CacheMetrics, Tally } from './cache-metrics.js';
import { spreadTtl } from './expiry.js';
import type { RedisTier } from './redis-tier.js';

/** The shared tier and how a resource travels through it (JSON; Date fields revived by name). */
export interface SharedTier<T> {
  readonly tier: RedisTier;
  readonly dateFields: readonly (keyof T & string)[];
}

/** Where a read found its entry: Redis, PostgreSQL on a miss, or PostgreSQL renewing a hot entry. */
type Source = 'shared' | 'database' | 'renewal';

/** A delete's version: ids are never reused, so nothing can be newer. */
const DELETED = Number.MAX_SAFE_INTEGER;
/** An entry read in the last sixth of its TTL is renewed in the background (see findById). */
const REFRESH_AHEAD = 1 / 6;
/** Renewals wait at most this long (and a sixtieth of the TTL) to be read together. */
const RENEWAL_GATHER_MS = 100;

export interface NearCacheSettings {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** How long an entry is kept at most (memory turnover; staleness is bounded by `stalenessMs`). */
  readonly ttlMs: number;
  /** How stale a read may be after another replica's write: entries are served while the feed is this recent. */
  readonly stalenessMs: number;
}

/** What tells the cache of changes made elsewhere, and how recently it has heard all of them. */
export interface ChangeFeed {
  /** Every change committed before this moment (performance.now()) has been passed to changedElsewhere. */
  heardUntil(): number;
}

/**
 * A cached resource; null: the mark a delete leaves, so that a slower read cannot bring it
 * back; undefined: a change heard from elsewhere, the version any read must now reach.
 */
interface Entry<T> {
  readonly resource: T | null | undefined;
  readonly version: number;
}

/**
 * An entry as held, with its own expiry (performance.now() ms): one clock read per hit serves
 * both this and the staleness check, where lru-cache's TTLs read the clock and look the key up
 * again for the time remaining. An expired entry still says which version a read must reach.
 */
interface Held<T> extends Entry<T> {
  readonly expiresAt: number;
}

/**
 * A bounded in-process cache in front of a repository's reads by id. Writes through this
 * replica replace their entry before they return (a delete leaves a tombstone), so a client
 * never reads an older version than one this replica has given it. Changes made elsewhere
 * arrive from the change feed and replace the entry with the version a read must reach; a
 * fill never replaces a newer version (the slow reader's race), and concurrent misses for one
 * id share one read. Entries are served only while the feed has heard every change committed
 * up to `stalenessMs` ago; otherwise reads go to the tiers below.
 */
export class CachedRepository<
  T extends { readonly id: string; readonly version: number },
  Fields,
  Query,
> implements VersionedRepository<T, Fields, Query> {
  readonly #inner: VersionedRepository<T, Fields, Query>;
  readonly #entries: LRUCache<string, Held<T>>;
  readonly #loading = new Map<string, Promise<T | null>>();
  /** Entries due for renewal (id → the version held), read together at the next gathering's end. */
  readonly #renewals = new Map<string, number>();
  #renewalsDue: NodeJS.Timeout | undefined;
  readonly #gatherMs: number;
  readonly #metrics: CacheMetrics;
  readonly #resource: string;
  readonly #shared: SharedTier<T> | undefined;
  readonly #feed: ChangeFeed;
  readonly #stalenessMs: number;
  readonly #ttlMs: number;
  /** The request counts of each tier and result: a hit costs an increment, not a label hash. */
  readonly #counted: Record<'near' | 'shared', Record<'hit' | 'miss', Tally>>;

  constructor(
    inner: VersionedRepository<T, Fields, Query>,
    resource: string,
    settings: NearCacheSettings,
    feed: ChangeFeed,
    metrics: CacheMetrics,
    shared?: SharedTier<T>,
  ) {
    this.#inner = inner;
    this.#feed = feed;
    this.#stalenessMs = settings.stalenessMs;
    this.#ttlMs = settings.ttlMs;
    this.#gatherMs = Math.max(1, Math.min(RENEWAL_GATHER_MS, Math.floor(settings.ttlMs / 60)));
    this.#shared = shared;
    this.#resource = resource;
    this.#metrics = metrics;
    const tally = (tier: 'near' | 'shared', result: 'hit' | 'miss') => metrics.tally({ resource, tier, result });
    this.#counted = {
      near: { hit: tally('near', 'hit'), miss: tally('near', 'miss') },
      shared: { hit: tally('shared', 'hit'), miss: tally('shared', 'miss') },
    };
    // Expiry is each entry's own (Held), checked on read; lru-cache bounds entries and bytes.
    this.#entries = new LRUCache<string, Held<T>>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      sizeCalculation: (entry) => approximateBytes(entry.resource),
    });
    metrics.track(resource, () => ({ entries: this.#entries.size, bytes: this.#entries.calculatedSize }));
  }

  async findById(id: string): Promise<T | null> {
    const entry = this.#entries.get(id);
    const now = performance.now();
    if (entry !== undefined && entry.resource !== undefined && now < entry.expiresAt && this.#fresh(now)) {
      this.#served('hit');
      if (entry.expiresAt - now < this.#ttlMs * REFRESH_AHEAD && !this.#loading.has(id)) {
        // Read while about to expire: read it again in the background, so a hot entry is
        // renewed before it expires rather than missed by a reader that then waits.
        this.#renewSoon(id, entry.version);
      }
      await endOfTurn();
      return entry.resource;
    }
    this.#served('miss');
    return this.#loading.get(id) ?? this.#load(id, entry?.version ?? 0, 'miss');
  }

  list(query: Query, signal?: AbortSignal): Promise<readonly T[]> {
    return this.#inner.list(query, signal);
  }

  /**
   * A create is not cached: nothing older can be cached under a new id (not found never is),
   * and a burst of creates would otherwise push the entries being read out of the cache (and
   * wait for Redis before answering).
   */
  insert(id: string, fields: Fields): Promise<T> {
    return this.#inner.insert(id, fields);
  }

  /**
   * A change committed anywhere (the change feed): an older entry, and any read of `id` in
   * flight, give way to the version a read must now reach (or, deleted, to a tombstone).
   */
  changedElsewhere(id: string, version: number | 'deleted'): void {
    const next = version === 'deleted' ? DELETED : version;
    const entry = this.#entries.peek(id);
    // A create leaves nothing older behind to skip: not found is never cached.
    if (entry === undefined ? next === 1 : entry.version >= next) return;
    this.#loading.delete(id);
    this.#hold(id, { resource: version === 'deleted' ? null : undefined, version: next });
    this.#metrics.invalidations.inc({ resource: this.#resource });
  }

  async update(
    id: string,
    changes: Partial<Fields>,
    expectedVersion?: number,
    signal?: AbortSignal,
  ): Promise<WriteOutcome<T>> {
    // The version check is PostgreSQL's, never this cache's.
    const outcome = await this.#inner.update(id, changes, expectedVersion, signal);
    if (typeof outcome === 'object') await this.#replace(id, { resource: outcome, version: outcome.version });
    else this.#forget(id);
    return outcome;
  }

  async delete(id: string, expectedVersion?: number, signal?: AbortSignal): Promise<WriteOutcome<true>> {
    const outcome = await this.#inner.delete(id, expectedVersion, signal);
    // Ids are never reused: no read in flight can bring back anything newer than a delete.
    if (outcome === true) await this.#replace(id, { resource: null, version: DELETED });
    else this.#forget(id);
    return outcome;
  }

  /**
   * Renewals are gathered for a moment and started in one turn, so the repository reads them
   * with one statement: a hot set renews each of its entries once per TTL, which one statement
   * per entry made a steady stream of round trips.
   */
  #renewSoon(id: string, version: number): void {
    if (this.#renewals.has(id)) return;
    this.#renewals.set(id, version);
    this.#renewalsDue ??= setTimeout(() => this.#renew(), this.#gatherMs).unref();
  }

  #renew(): void {
    this.#renewalsDue = undefined;
    const due = [...this.#renewals];
    this.#renewals.clear();
    for (const [id, version] of due) {
      if (!this.#loading.has(id)) this.#load(id, version, 'renewal').catch(() => undefined);
    }
  }

  /** One read for every concurrent miss on `id`; a write meanwhile detaches it (it then fills nothing). */
  #load(id: string, floor: number, read: 'miss' | 'renewal'): Promise<T | null> {
    const loading = this.#read(id, floor, read).then(
      ({ found, from }) => {
        const current = this.#loading.get(id) === loading;
        if (current) this.#loading.delete(id);
        // Not found is not cached: the id may yet be created (in a transaction this cache never sees).
        if (current && found !== null) this.#fill(id, found, from);
        return found?.resource ?? null;
      },
      (err: unknown) => {
        if (this.#loading.get(id) === loading) this.#loading.delete(id);
        throw err;
      },
    );
    this.#loading.set(id, loading);
    return loading;
  }

  /**
   * From the shared tier if it has the entry at `floor` or newer, else from the repository.
   * A renewal reads the repository: the shared copy may be the very one being renewed.
   */
  async #read(id: string, floor: number, read: 'miss' | 'renewal'): Promise<{ found: Entry<T> | null; from: Source }> {
    if (this.#shared !== undefined && read === 'miss') {
      const found = await this.#shared.tier.get(this.#key(id));
      // Older than a change this replica has heard of: Redis missed that write's update.
      const shared = found !== undefined && found.version >= floor ? found : undefined;
      this.#served(shared === undefined ? 'miss' : 'hit', 'shared');
      if (shared !== undefined) {
        const resource = shared.json === '' ? null : this.#decode(shared.json);
        return { found: { resource, version: shared.version }, from: 'shared' };
      }
    }
    const resource = await this.#inner.findById(id);
    return {
      found: resource === null ? null : { resource, version: resource.version },
      from: read === 'renewal' ? 'renewal' : 'database',
    };
  }

  /** Each entry with its own TTL, so that entries filled together do not all expire together. */
  #hold(id: string, entry: Entry<T>): void {
    this.#entries.set(id, { ...entry, expiresAt: performance.now() + spreadTtl(this.#ttlMs) });
  }

  /** A read's result, unless the entry already holds this version or a newer one. */
  #fill(id: string, entry: Entry<T>, from: Source): void {
    const current = this.#entries.peek(id);
    // A change heard at this very version (resource undefined) is what the read was waiting for;
    // the database's copy of the version held renews it (a write made outside the service may
    // have changed the row without a new version; the shared copy may be the same stale one).
    // An expired entry is renewed by either: it was missed for having expired.
    const newer =
      current !== undefined &&
      (current.version > entry.version ||
        (current.version === entry.version &&
          current.resource !== undefined &&
          from === 'shared' &&
          performance.now() < current.expiresAt));
    if (newer) return;
    this.#hold(id, entry);
    this.#metrics.fills.inc({ resource: this.#resource });
    // A renewal that found the version held leaves Redis alone: its script never replaces an
    // equal version, so the call (a round trip per hot entry per TTL) could only re-create an
    // entry Redis has since expired, which the next miss anywhere puts back.
    const unchanged = from === 'renewal' && current !== undefined && current.version === entry.version;
    if (from !== 'shared' && !unchanged && entry.resource !== null) {
      void this.#shared?.tier.put(this.#key(id), { version: entry.version, json: JSON.stringify(entry.resource) });
    }
  }

  /**
   * A write's result: replaces the entry here and in the shared tier before the write
   * answers, and reads in flight no longer fill it. (Other replicas hear of it from the
   * change feed.)
   */
  async #replace(id: string, entry: Entry<T>): Promise<void> {
    this.#loading.delete(id);
    this.#hold(id, entry);
    this.#metrics.invalidations.inc({ resource: this.#resource });
    const json = entry.resource === null ? '' : JSON.stringify(entry.resource);
    await this.#shared?.tier.put(this.#key(id), { version: entry.version, json });
  }

  #key(id: string): string {
    return `${this.#resource}:${id}`;
  }

  #decode(json: string): T {
    const value = JSON.parse(json) as Record<string, unknown>;
    for (const field of this.#shared?.dateFields ?? []) value[field] = new Date(value[field] as string);
    return value as T;
  }

  /** Whether the change feed has heard everything committed up to the staleness bound ago. */
  #fresh(now: number): boolean {
    return now - this.#feed.heardUntil() <= this.#stalenessMs;
  }

  #forget(id: string): void {
    this.#loading.delete(id);
    this.#entries.delete(id);
    this.#metrics.invalidations.inc({ resource: this.#resource });
  }

  #served(result: 'hit' | 'miss', tier: 'near' | 'shared' = 'near'): void {
    this.#counted[tier][result].count += 1;
    trace.getActiveSpan()?.setAttribute(`cache.${tier}`, result);
  }
}

let turnEnd: Promise<void> | null = null;

/**
 * Resolves once the requests read in this turn of the event loop have all been handled: near
 * hits are answered then, together, as batched database reads are. Answered one by one between
 * reads, each response wakes the client on its own; measured on the bench's W1, that cost more
 * CPU per request than the database read it saved (docs/performance.md, "Read cache").
 */
function endOfTurn(): Promise<void> {
  turnEnd ??= new Promise((resolve) =>
    setImmediate(() => {
      turnEnd = null;
      resolve();
    }),
  );
  return turnEnd;
}

/** A cheap estimate of an entry's heap: UTF-16 strings plus a fixed overhead per object. */
function approximateBytes(resource: object | null | undefined): number {
  if (resource === null || resource === undefined) return 64;
  let bytes = 160;
  for (const value of Object.values(resource)) bytes += typeof value === 'string' ? 40 + value.length * 2 : 16;
  return bytes;
}
