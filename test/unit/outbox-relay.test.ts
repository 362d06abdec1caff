import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../src/domain/event.js';
import { OutboxRelay, type RelaySettings } from '../../src/events/relay.js';
import type {
  EventPublisher,
  LedOutbox,
  OutboxBacklog,
  OutboxStore,
  PublishOutcome,
  Sequenced,
} from '../../src/services/event-relay.js';

/** An outbox in memory: events numbered 1…n, a publishing cursor, refusals counted per position. */
class MemoryOutbox implements OutboxStore, LedOutbox {
  readonly events: DomainEvent[] = [];
  readonly attempts = new Map<number, number>();
  readonly parked = new Set<number>();
  publishedThroughPosition = 0;
  unsequenced = 0;
  leading = true;

  add(count: number): void {
    for (let i = 0; i < count; i += 1) {
      const position = this.events.length + 1;
      this.events.push({
        id: `event-${position}`,
        type: 'com.example.productuser.product.created.v1',
        source: '/test',
        subject: `subject-${position}`,
        time: new Date(),
        resourceVersion: 1,
        data: {},
        traceparent: null,
        position,
      });
    }
    this.unsequenced += count;
  }

  leadAttempts = 0;

  lead<T>(work: (outbox: LedOutbox) => Promise<T>): Promise<T | null> {
    this.leadAttempts += 1;
    return this.leading ? work(this) : Promise.resolve(null);
  }
  closed = false;
  close(): void {
    this.closed = true;
  }
  backlog(): Promise<OutboxBacklog> {
    return Promise.resolve({ pending: this.events.length - this.publishedThroughPosition, oldest: null, parked: 0 });
  }
  sweep(): Promise<number> {
    return Promise.resolve(0);
  }
  failNextSequence = false;
  cursorsWritten: (number | undefined)[] = [];

  sequence(limit: number, publishedThrough?: number): Promise<Sequenced> {
    if (this.failNextSequence) {
      this.failNextSequence = false;
      return Promise.reject(new Error('connection lost'));
    }
    this.cursorsWritten.push(publishedThrough);
    if (publishedThrough !== undefined) this.publishedThroughPosition = publishedThrough;
    const count = Math.min(limit, this.unsequenced);
    const first = this.events.length - this.unsequenced;
    this.unsequenced -= count;
    return Promise.resolve({
      events: this.events.slice(first, first + count),
      lastPosition: this.events.length - this.unsequenced,
      publishedThrough: this.publishedThroughPosition,
    });
  }
  unpublished(limit: number): Promise<readonly DomainEvent[]> {
    const after = this.events.filter((e) => e.position > this.publishedThroughPosition && !this.parked.has(e.position));
    return Promise.resolve(after.slice(0, limit));
  }
  publishedThrough(position: number): Promise<void> {
    this.publishedThroughPosition = position;
    return Promise.resolve();
  }
  refused(event: DomainEvent, _reason: string, maxAttempts: number): Promise<boolean> {
    const attempts = (this.attempts.get(event.position) ?? 0) + 1;
    this.attempts.set(event.position, attempts);
    if (attempts >= maxAttempts) this.parked.add(event.position);
    return Promise.resolve(attempts >= maxAttempts);
  }
}

/** A broker that answers each event by a rule, and remembers what it stored. */
class ScriptedBroker implements EventPublisher {
  readonly stored: number[] = [];
  rule: (event: DomainEvent) => PublishOutcome = () => ({ status: 'published' });

  publish(events: readonly DomainEvent[]): Promise<PublishOutcome[]> {
    return Promise.resolve(
      events.map((event) => {
        const outcome = this.rule(event);
        if (outcome.status === 'published') this.stored.push(event.position);
        return outcome;
      }),
    );
  }
}

const settings: RelaySettings = {
  pollIntervalMs: 1,
  idlePollIntervalMs: 1,
  batchSize: 10,
  maxAttempts: 3,
  retryMs: 0,
  retentionMs: 60_000,
  sweepIntervalMs: 60_000,
};
const logger = pino({ level: 'silent' });

function relay(outbox: MemoryOutbox, broker: ScriptedBroker | null, overrides: Partial<RelaySettings> = {}) {
  return new OutboxRelay(outbox, broker, { ...settings, ...overrides }, logger, new Registry());
}

describe('OutboxRelay', () => {
  it('publishes in position order and moves the cursor past what the broker acknowledged', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(4);
    const subject = relay(outbox, broker);
    expect(await subject.tick()).toEqual({ led: true, more: true });
    expect(broker.stored).toEqual([1, 2, 3, 4]);
    // The cursor is written by the next pass's first statement, or when the relay stops.
    expect(outbox.publishedThroughPosition).toBe(0);
    expect(await subject.tick()).toEqual({ led: true, more: false });
    expect(outbox.publishedThroughPosition).toBe(4);
  });

  it('stops at the first event the broker cannot take, and resumes from it', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(5);
    broker.rule = (event) =>
      event.position >= 3 ? { status: 'unavailable', reason: 'down' } : { status: 'published' };
    const subject = relay(outbox, broker);
    await subject.tick();
    broker.rule = () => ({ status: 'published' });
    await subject.tick();
    expect(broker.stored).toEqual([1, 2, 3, 4, 5]);
    await subject.stop();
    expect(outbox.publishedThroughPosition).toBe(5);
  });

  it('waits retryMs after the broker was unavailable before trying again', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(1);
    broker.rule = () => ({ status: 'unavailable', reason: 'down' });
    const subject = relay(outbox, broker, { retryMs: 60_000 });
    await subject.tick();
    broker.rule = () => ({ status: 'published' });
    await subject.tick();
    expect(broker.stored).toEqual([]);
  });

  it('retries a refused event, parks it at maxAttempts, then publishes the ones after it', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(3);
    broker.rule = (event) =>
      event.position === 2 ? { status: 'refused', reason: 'too large' } : { status: 'published' };
    const subject = relay(outbox, broker, { pollIntervalMs: 0 });
    for (let i = 0; i < 4; i += 1) await subject.tick();
    await subject.stop();
    expect(outbox.attempts.get(2)).toBe(3);
    expect(outbox.parked).toEqual(new Set([2]));
    // Event 3 went once with the first batch; while 2 was being retried, it was not sent again.
    expect(broker.stored).toEqual([1, 3]);
    expect(outbox.publishedThroughPosition).toBe(3);
  });

  it('counts a duplicate the broker dropped as published', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(2);
    broker.rule = () => ({ status: 'duplicate' });
    const subject = relay(outbox, broker);
    await subject.tick();
    await subject.stop();
    expect(outbox.publishedThroughPosition).toBe(2);
  });

  it('after a failed pass, leaves the cursor it had not written to whoever leads next', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(2);
    const subject = relay(outbox, broker);
    await subject.tick();
    outbox.failNextSequence = true;
    await expect(subject.tick()).rejects.toThrow('connection lost');
    // Meanwhile another leader moved on; this relay must not write its older cursor back.
    outbox.publishedThroughPosition = 7;
    await subject.tick();
    expect(outbox.cursorsWritten).toEqual([undefined, undefined]);
    expect(outbox.publishedThroughPosition).toBe(7);
  });

  it('does nothing while another replica leads', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(2);
    outbox.leading = false;
    expect(await relay(outbox, broker).tick()).toEqual({ led: false, more: false });
    expect(outbox.unsequenced).toBe(2);
    expect(broker.stored).toEqual([]);
  });

  it('while another replica leads, asks for the lead once a second, not every poll', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(2);
    outbox.leading = false;
    const subject = relay(outbox, broker);
    subject.start();
    try {
      // At the 1 ms poll interval, a relay that kept asking would have asked a hundred times.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(outbox.leadAttempts).toBe(1);
      // The leader gone, it leads at its next attempt.
      outbox.leading = true;
      for (let i = 0; i < 600 && broker.stored.length < 2; i += 1) await new Promise((r) => setTimeout(r, 5));
      expect(broker.stored).toEqual([1, 2]);
    } finally {
      await subject.stop();
    }
  });

  it('polls at the idle interval after empty passes, and at the poll interval again after events', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    const subject = relay(outbox, broker, { idlePollIntervalMs: 400 });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    subject.start();
    try {
      // Five empty passes at the 1 ms poll interval; then it sleeps 400 ms.
      for (let i = 0; i < 200 && outbox.leadAttempts < 5; i += 1) await pause(5);
      await pause(150);
      expect(outbox.leadAttempts).toBe(5);
      outbox.add(2);
      for (let i = 0; i < 200 && broker.stored.length < 2; i += 1) await pause(5);
      expect(broker.stored).toEqual([1, 2]);
      // The pass that found them, then five empty ones at the poll interval (the first writes the
      // cursor), then asleep again: still on the poll interval after events, not the idle one.
      await pause(150);
      expect(outbox.leadAttempts).toBe(5 + 1 + 5);
      expect(outbox.publishedThroughPosition).toBe(2);
    } finally {
      await subject.stop();
    }
  });

  it('without a broker only numbers events, a batch at a time, and says when there is more', async () => {
    const outbox = new MemoryOutbox();
    outbox.add(15);
    const subject = relay(outbox, null);
    expect(await subject.tick()).toEqual({ led: true, more: true });
    expect(await subject.tick()).toEqual({ led: true, more: true });
    expect(await subject.tick()).toEqual({ led: true, more: false });
    expect(outbox.unsequenced).toBe(0);
    expect(outbox.publishedThroughPosition).toBe(0);
  });

  it('runs until stopped', async () => {
    const outbox = new MemoryOutbox();
    const broker = new ScriptedBroker();
    outbox.add(3);
    const subject = relay(outbox, broker);
    subject.start();
    for (let i = 0; i < 100 && broker.stored.length < 3; i += 1) await new Promise((r) => setTimeout(r, 5));
    await subject.stop();
    expect(broker.stored).toEqual([1, 2, 3]);
    expect(outbox.closed).toBe(true);
  });
});
