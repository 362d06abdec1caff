/**
 * The tracing decision for an incoming request, made before any instrumentation runs.
 *
 * `parentbased_traceidratio` semantics: a request carrying a valid W3C `traceparent` follows
 * its caller's sampled flag; any other request is traced with probability `ratio`. Deciding
 * at the door lets preload.ts give the requests that will not be traced nothing at all: no
 * attributes, listeners or non-recording spans (docs/performance.md says what that saves).
 */

// version-traceid-parentid-flags; version ff, an all-zero trace id and an all-zero parent id are invalid.
const TRACEPARENT = /^(?!ff)[\da-f]{2}-(?!0{32})[\da-f]{32}-(?!0{16})[\da-f]{16}-([\da-f]{2})(?:-|$)/;

export interface HeadSampler {
  /** Whether a request with these headers is to be traced. */
  shouldTrace(traceparent: string | string[] | undefined): boolean;
}

export function parentBasedRatioSampler(ratio: number, random: () => number = Math.random): HeadSampler {
  return {
    shouldTrace(traceparent) {
      if (typeof traceparent === 'string') {
        const flags = TRACEPARENT.exec(traceparent)?.[1];
        if (flags !== undefined) return (Number.parseInt(flags, 16) & 1) === 1;
      }
      return random() < ratio;
    },
  };
}

/**
 * OTEL_TRACES_SAMPLER_ARG as the SDK reads it for a ratio sampler: a number in [0, 1];
 * anything else means 1, which is also the SDK's fallback.
 */
export function samplingRatio(arg: string | undefined): number {
  const ratio = arg === undefined || arg.trim() === '' ? Number.NaN : Number(arg);
  return Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : 1;
}
