import { describe, expect, it } from 'vitest';
import { untilNotShedding } from '../../src/http/load-shedding.js';

describe('untilNotShedding (waited for before the port opens)', () => {
  it('waits two sample periods, then until load shedding lets requests through', async () => {
    const answers = [true, true, true, false];
    let asked = 0;
    const started = Date.now();
    const cleared = await untilNotShedding(() => answers[asked++] ?? false, 2000, 50);
    expect(cleared).toBe(true);
    expect(asked).toBe(4);
    // Two periods (100 ms) before the first look, so a sample taken late by a blocked start-up
    // is replaced. More than one period, with room for timers measured on libuv's cached clock
    // firing a few ms "early" by Date.now().
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
  });

  it('gives up after the timeout if shedding never stops', async () => {
    const started = Date.now();
    // Only the deadline ends the wait: without it this would never resolve.
    expect(await untilNotShedding(() => true, 150, 10)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});
