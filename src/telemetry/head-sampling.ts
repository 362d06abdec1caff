/**
 * The tracing decision for an incoming request or call, made before any instrumentation runs.
 *
 * `parentbased_traceidratio` semantics with a ceiling: a request carrying a valid W3C
 * `traceparent` follows its caller's sampled flag; any other request starts a trace with
 * probability `ratio`, and at most `TRACES_PER_SECOND` times a second in the process, so that
 * what tracing costs stops growing with the load (docs/operations.md, Tracing). Deciding at
 * the door lets preload.ts give the requests that will not be traced nothing at all: no
 * attributes, listeners or non-recording spans (docs/performance.md says what that saves).
 */

// version-traceid-parentid-flags; version ff, an all-zero trace id and an all-zero parent id are invalid.
const TRACEPARENT = /^(?!ff)[\da-f]{2}-(?!0{32})[\da-f]{32}-(?!0{16})[\da-f]{16}-([\da-f]{2})(?:-|$)/;

/** The default of TRACES_PER_SECOND, as the tracers that cap new traces commonly have it. */
const DEFAULT_TRACES_PER_SECOND = 100;

export interface HeadSampler {
  /** Whether a request with these headers is to be traced. */
  shouldTrace(traceparent: string | string[] | undefined): boolean;
  /** Whether a request or call without a valid parent starts a trace: the ratio, then the ceiling. */
  startsTrace(): boolean;
}

/**
 * `budget` is asked only for requests the ratio picked, so that an idle or lightly loaded
 * process traces at the ratio and a busy one at the ceiling.
 */
export function parentBasedRatioSampler(
  ratio: number,
  random: () => number = Math.random,
  budget: () => boolean = () => true,
): HeadSampler {
  const startsTrace = () => random() < ratio && budget();
  return {
    shouldTrace(traceparent) {
      if (typeof traceparent === 'string') {
        const flags = TRACEPARENT.exec(traceparent)?.[1];
        if (flags !== undefined) return (Number.parseInt(flags, 16) & 1) === 1;
      }
      return startsTrace();
    },
    startsTrace,
  };
}

/**
 * At most `perSecond` yeses a second: a token bucket refilled continuously and holding one
 * second's worth (at least one), so a quiet spell does not store up a burst larger than that.
 * 0 means no ceiling.
 */
export function traceBudget(perSecond: number, now: () => number = () => performance.now()): () => boolean {
  if (perSecond === 0) return () => true;
  const capacity = Math.max(perSecond, 1);
  let tokens = capacity;
  let last = now();
  return () => {
    const time = now();
    tokens = Math.min(capacity, tokens + ((time - last) * perSecond) / 1000);
    last = time;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
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

/** TRACES_PER_SECOND, read as leniently as the SDK reads its own variables: a number ≥ 0, else the default. */
export function tracesPerSecond(arg: string | undefined): number {
  const value = arg === undefined || arg.trim() === '' ? Number.NaN : Number(arg);
  return Number.isFinite(value) && value >= 0 ? value : DEFAULT_TRACES_PER_SECOND;
}
