import { describe, expect, it } from 'vitest';
import {
  parentBasedRatioSampler,
  samplingRatio,
  traceBudget,
  tracesPerSecond,
} from '../../src/telemetry/head-sampling.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('head sampling', () => {
  it('follows a valid traceparent’s sampled flag, whatever the ratio', () => {
    const never = parentBasedRatioSampler(0, () => 0.5);
    const always = parentBasedRatioSampler(1, () => 0.5);
    expect(never.shouldTrace(`00-${TRACE}-${SPAN}-01`)).toBe(true);
    expect(never.shouldTrace(`00-${TRACE}-${SPAN}-03`)).toBe(true); // other flag bits are ignored
    expect(always.shouldTrace(`00-${TRACE}-${SPAN}-00`)).toBe(false);
    expect(always.shouldTrace(`00-${TRACE}-${SPAN}-02`)).toBe(false);
    // A future version may append fields.
    expect(never.shouldTrace(`01-${TRACE}-${SPAN}-01-extra`)).toBe(true);
  });

  it('treats an invalid traceparent as absent: the ratio decides', () => {
    const invalid = [
      `ff-${TRACE}-${SPAN}-01`, // version ff is forbidden
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01x`,
      'garbage',
    ];
    for (const header of invalid) {
      expect(parentBasedRatioSampler(0, () => 0).shouldTrace(header), header).toBe(false);
      expect(parentBasedRatioSampler(1, () => 0.99).shouldTrace(header), header).toBe(true);
    }
    // Repeated headers arrive as an array: not a single valid parent.
    expect(parentBasedRatioSampler(0, () => 0).shouldTrace([`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`])).toBe(
      false,
    );
  });

  it('samples roots with the configured probability', () => {
    let next = 0;
    const draws = [0.05, 0.1, 0.5, 0.099];
    const sampler = parentBasedRatioSampler(0.1, () => draws[next++] ?? 1);
    expect(draws.map(() => sampler.shouldTrace(undefined))).toEqual([true, false, false, true]);
  });

  it('reads OTEL_TRACES_SAMPLER_ARG as the SDK does: [0, 1], otherwise 1', () => {
    expect(samplingRatio('0.1')).toBe(0.1);
    expect(samplingRatio('0')).toBe(0);
    expect(samplingRatio('1')).toBe(1);
    for (const bad of [undefined, '', ' ', 'abc', '-0.5', '1.5', 'Infinity'])
      expect(samplingRatio(bad), String(bad)).toBe(1);
  });
});

describe('the ceiling on new traces (TRACES_PER_SECOND)', () => {
  it('lets at most a second’s worth through at once, then as many a second as set', () => {
    let now = 0;
    const budget = traceBudget(3, () => now);
    expect([budget(), budget(), budget(), budget()]).toEqual([true, true, true, false]);
    now = 200; // 0.6 of a token back
    expect(budget()).toBe(false);
    now = 400; // 1.2
    expect([budget(), budget()]).toEqual([true, false]);
    now = 60_000; // a long quiet spell stores no more than one second's worth
    expect([budget(), budget(), budget(), budget()]).toEqual([true, true, true, false]);
  });

  it('keeps a fraction below one a second: one trace, then one every 1/rate seconds', () => {
    let now = 0;
    const budget = traceBudget(0.5, () => now);
    expect([budget(), budget()]).toEqual([true, false]);
    now = 1_999;
    expect(budget()).toBe(false);
    now = 2_001;
    expect(budget()).toBe(true);
  });

  it('has no ceiling at 0', () => {
    const budget = traceBudget(0, () => 0);
    expect(Array.from({ length: 1000 }, budget).every(Boolean)).toBe(true);
  });

  it('is spent only by requests the ratio picked, never by a caller’s sampled flag', () => {
    let spent = 0;
    const budget = () => {
      spent += 1;
      return spent <= 1;
    };
    let next = 0;
    const draws = [0.5, 0.05, 0.05, 0.5];
    const sampler = parentBasedRatioSampler(0.1, () => draws[next++] ?? 1, budget);
    expect(sampler.shouldTrace(`00-${TRACE}-${SPAN}-01`)).toBe(true);
    expect(spent).toBe(0);
    // Not picked (0.5); picked and within the ceiling; picked and over it; not picked.
    expect(draws.map(() => sampler.startsTrace())).toEqual([false, true, false, false]);
    expect(spent).toBe(2);
    expect(sampler.shouldTrace(`00-${TRACE}-${SPAN}-01`)).toBe(true);
  });

  it('reads TRACES_PER_SECOND as a number ≥ 0, otherwise 100', () => {
    expect(tracesPerSecond('5')).toBe(5);
    expect(tracesPerSecond('0.5')).toBe(0.5);
    expect(tracesPerSecond('0')).toBe(0);
    for (const bad of [undefined, '', ' ', 'abc', '-1', 'Infinity'])
      expect(tracesPerSecond(bad), String(bad)).toBe(100);
  });
});
