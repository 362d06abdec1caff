import { describe, expect, it } from 'vitest';
import { PressureGauge } from '../../src/http/load-shedding.js';

/** Keeps the event loop busy in turns of `turnMs` for `forMs`; returns what the gauge said after each turn. */
async function turns(gauge: PressureGauge, turnMs: number, forMs: number): Promise<Set<string | null>> {
  const seen = new Set<string | null>();
  const started = performance.now();
  while (performance.now() - started < forMs) {
    const until = performance.now() + turnMs;
    while (performance.now() < until) {
      // Busy, as a CPU-bound request or a long GC pause keeps the loop.
    }
    seen.add(gauge.pressure());
    await new Promise((resolve) => setImmediate(resolve));
  }
  return seen;
}

describe('PressureGauge (load shedding)', () => {
  it('turns of 120 ms are not over a 1 s event-loop delay limit; turns of 1.2 s are', async () => {
    const gauge = new PressureGauge({ maxEventLoopDelayMs: 1000, maxHeapUsedBytes: 0 });
    gauge.start();
    try {
      // Every sample period here holds at most one tick, 110 ms late: never counted as more.
      expect(await turns(gauge, 120, 1500)).toEqual(new Set([null]));
      expect(await turns(gauge, 1200, 2500)).toContain('eventLoopDelay');
      // A free loop again: the next sample lets requests through.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(gauge.pressure()).toBeNull();
    } finally {
      gauge.stop();
    }
  });

  it('heap in use past its limit is pressure; a limit of 0 is none', async () => {
    const over = new PressureGauge({ maxEventLoopDelayMs: 0, maxHeapUsedBytes: 1 });
    const off = new PressureGauge({ maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0 });
    over.start();
    off.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(over.pressure()).toBe('heapUsedBytes');
      expect(off.pressure()).toBeNull();
    } finally {
      over.stop();
      off.stop();
    }
  });
});
