import { describe, expect, it } from 'vitest';
import { parentBasedRatioSampler, samplingRatio } from '../../src/telemetry/head-sampling.js';

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
