import { randomFillSync } from 'node:crypto';
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';

export interface LoggerSettings {
  readonly level: string;
  /** Human-readable output: only for a developer watching a terminal. */
  readonly pretty: boolean;
  /** The cluster worker's id, on every line it writes (absent in a single process). */
  readonly worker?: number;
}

/** Paths that may hold credentials wherever a request, header set or error is logged. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.secret',
  '*.token',
  'authorization',
];

export function createLogger(settings: LoggerSettings, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: settings.level,
    base:
      settings.worker === undefined
        ? { service: 'product-user-service' }
        : { service: 'product-user-service', worker: settings.worker },
    timestamp: isoTimeField,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin: traceFields,
    mixinMergeStrategy: mergeTraceFields,
  };
  if (settings.pretty) {
    // pino-pretty is a development dependency; production never takes this branch.
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' },
      },
    });
  }
  return pino(options, destination ?? lineBatchingDestination(1));
}

/** Writes of at most this many bytes to a pipe are atomic (POSIX; Linux's value). */
const PIPE_BUF = 4096;

/** A pino destination that can write out what it holds at once (on exit; pino on `fatal`). */
export interface LineDestination extends pino.DestinationStream {
  flushSync(): void;
}

/**
 * Log lines to a file descriptor, written synchronously once per event-loop turn: the lines of
 * one turn go out together when it ends, in writes of whole lines of at most PIPE_BUF (4 KiB)
 * each: a write as soon as another line would not fit. It holds at most 4 KiB (or one longer line).
 *
 * Not pino's asynchronous destination: it sends one write of at most 4 KiB to the thread pool
 * and the next only when the event loop comes back for its callback, so under load, where a
 * turn serves dozens of requests, lines pile up in the heap and come out late.
 * Not one write per line either: a syscall per request where one per 4 KiB does.
 * Whole lines of at most 4 KiB are atomic on a pipe, so cluster workers sharing stdout never
 * interleave inside a line (unless one line exceeds 4 KiB). A full pipe blocks the writer:
 * back-pressure from the log collector, instead of memory growing without bound.
 * Each line is encoded once, straight into the bytes of the next write, rather than measured,
 * joined to a string and encoded again when written (about 0.3 µs a line less).
 */
export function lineBatchingDestination(fd: number): LineDestination {
  // sonic-boom, synchronous, given bytes: it retries a busy descriptor and finishes a short
  // write before it returns, so the chunk is free again when `send` returns; pino's wrapper
  // stops at EPIPE.
  const out = pino.destination({ dest: fd, sync: true, contentMode: 'buffer' });
  // sonic-boom's type declares strings only; in 'buffer' mode it takes Buffers (its writeBuffer).
  const send = (bytes: Buffer): void => void out.write(bytes as unknown as string);
  const chunk = Buffer.allocUnsafeSlow(PIPE_BUF);
  let used = 0;
  let scheduled = false;
  const writePending = (): void => {
    if (used === 0) return;
    const bytes = chunk.subarray(0, used);
    used = 0;
    send(bytes);
  };
  const endOfTurn = (): void => {
    scheduled = false;
    writePending();
  };
  /** Whether `line` went whole into the chunk after `used`. */
  const append = (line: string): boolean => {
    const room = PIPE_BUF - used;
    // Buffer#write stops before a character that does not fit; a character is at most 4 bytes,
    // so with 4 bytes to spare nothing was cut off. With less the line may have been: it goes
    // again, first into an empty chunk.
    const written = chunk.write(line, used);
    if (written > room - 4) return false;
    used += written;
    return true;
  };
  const destination: LineDestination = {
    write(line: string) {
      if (!append(line)) {
        writePending();
        // Longer than a chunk: a write of its own, after the lines before it.
        if (!append(line)) send(Buffer.from(line));
      }
      if (!scheduled && used > 0) {
        scheduled = true;
        setImmediate(endOfTurn);
      }
    },
    flushSync: writePending,
  };
  // pino flushes only its asynchronous destinations on exit; a crash's last lines (the fatal
  // one among them) are held here when process.exit runs.
  process.on('exit', writePending);
  return destination;
}

let isoTimeMs = Number.NaN;
let isoTime = '';

/**
 * pino's `isoTime`, formatted once per millisecond: under load a millisecond has a dozen
 * lines, and `toISOString` is slow enough to show in a profile.
 */
export function isoTimeField(): string {
  const now = Date.now();
  if (now !== isoTimeMs) {
    isoTimeMs = now;
    isoTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoTime;
}

/** What traceFields returns outside a traced request: a marker, merged into nothing. */
const NO_TRACE: Record<string, string> = Object.freeze({});

/**
 * pino merges a line's fields into what the mixin returned (its default, Object.assign into
 * the mixin's object); for the untraced majority of lines there is nothing to merge into, so
 * the line's own object is written as it is, not copied field by field into a fresh one.
 */
export function mergeTraceFields(line: object, fields: object): object {
  return fields === NO_TRACE ? line : Object.assign(fields, line);
}

/**
 * Trace correlation for a line written inside a traced request: the fields (and keys)
 * OpenTelemetry's pino instrumentation adds. Done here because that instrumentation can only
 * patch pino, which this service loads as an ES module, through Node's module loader hook:
 * a second thread with its own V8 isolate, tens of MiB of idle RSS for three fields.
 * Untraced requests and a disabled SDK have no active span, and get none. A new object for
 * each traced line: mergeTraceFields adds the line's own fields to it.
 */
export function traceFields(): Record<string, string> {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return NO_TRACE;
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: spanContext.traceFlags.toString(16).padStart(2, '0'),
  };
}

/** The trace fields of a request for which no span was made (not sampled, or tracing off). */
export interface UntracedFields {
  readonly trace_id: string;
  /** Always 00: this request's spans are not recorded, whatever the caller's flag said. */
  readonly trace_flags: '00';
}

// version-traceid-parentid-flags (W3C Trace Context); the same rule as telemetry/head-sampling.ts,
// which may import nothing of the application.
const TRACEPARENT = /^(?!ff)[\da-f]{2}-(?!0{32})([\da-f]{32})-(?!0{16})[\da-f]{16}-[\da-f]{2}(?:-|$)/;

/** A valid W3C `traceparent`'s trace id; undefined for anything else. */
function callersTraceId(header: string | string[] | null | undefined): string | undefined {
  return typeof header === 'string' ? TRACEPARENT.exec(header)?.[1] : undefined;
}

// Random bytes for new trace ids, drawn 256 ids at a time: a fresh 32-digit id then costs
// about 80 ns, against 440 ns for randomUUID() with its dashes removed (Node 24, 2M calls).
const TRACE_ID_BYTES = 16;
const traceIdPool = Buffer.alloc(TRACE_ID_BYTES * 256);
let traceIdAt = traceIdPool.length;

/** A new W3C trace id: 32 lowercase hex digits from a cryptographic source. */
export function newTraceId(): string {
  if (traceIdAt === traceIdPool.length) {
    randomFillSync(traceIdPool);
    traceIdAt = 0;
  }
  const id = traceIdPool.toString('hex', traceIdAt, traceIdAt + TRACE_ID_BYTES);
  traceIdAt += TRACE_ID_BYTES;
  return id;
}

/**
 * The trace id every log line of a request carries, for a request without a span: the
 * caller's from `traceparent`, else a new one, so that lines of one request can be found
 * together in a log store whether or not its trace was kept. Undefined inside a span, whose
 * ids traceFields writes. Nothing is exported for these.
 */
export function untracedFields(traceparent: string | string[] | undefined): UntracedFields | undefined {
  if (traceFields() !== NO_TRACE) return undefined;
  return { trace_id: callersTraceId(traceparent) ?? newTraceId(), trace_flags: '00' };
}

// Query parameters that carry credentials by name; their values never reach a log line.
const CREDENTIAL_PARAMETERS = new Set([
  'access_token',
  'id_token',
  'refresh_token',
  'token',
  'key',
  'api_key',
  'apikey',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'auth',
  'authorization',
  'signature',
  'sig',
  'code',
  'session',
  'sessionid',
]);

function parameterName(pair: string): string {
  const at = pair.indexOf('=');
  const raw = (at === -1 ? pair : pair.slice(0, at)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/**
 * The request URL as logged: the values of credential-like query parameters are replaced,
 * whatever their spelling (`ACCESS_TOKEN`, `access%5Ftoken`).
 */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const pairs = url.slice(query + 1).split('&');
  let redacted = false;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] ?? '';
    if (CREDENTIAL_PARAMETERS.has(parameterName(pair))) {
      const at = pair.indexOf('=');
      pairs[i] = `${at === -1 ? pair : pair.slice(0, at)}=[redacted]`;
      redacted = true;
    }
  }
  return redacted ? `${url.slice(0, query + 1)}${pairs.join('&')}` : url;
}

/** The one line written per request: primitives only, none of them a credential. */
export interface AccessLine {
  readonly request_id: string;
  readonly method: string;
  readonly route: string;
  /** Through redactUrl. */
  readonly url: string;
  readonly status: number;
  readonly duration_ms: number;
  readonly trace_id?: string | undefined;
  readonly trace_flags?: string | undefined;
}

/**
 * A child that skips redaction, for the busiest lines (one per request, one per gRPC call),
 * whose fields are primitives and never credentials. No path in REDACTED_PATHS can match
 * them, yet with wildcard paths pino runs the redactor on every field of every line (8 KB
 * allocated per gRPC call). Lines are otherwise the same as the parent's.
 */
export function withoutRedaction(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/** pino's state behind a logger (`pino.symbols`, its documented way in), as accessLogger reads it. */
interface PinoInternals {
  readonly [key: symbol]: unknown;
}

/**
 * Writes the per-request line, the one line every request has: what
 * `logger.info(line, 'request completed')` writes, byte for byte (test/unit/logger.test.ts),
 * put together here. Its fields are primitives known in advance, so one `JSON.stringify` does
 * what pino's general serializer does key by key, quoting each key and testing each value's
 * type (about 2 µs of a 50 µs warm read, docs/performance.md). Level, time, bindings, trace
 * fields and destination are the logger's own. No redaction: none of the fields is a
 * credential (the URL has been through redactUrl).
 */
export function accessLogger(logger: Logger): (line: AccessLine) => void {
  const internals = logger as unknown as PinoInternals;
  const { lsCacheSym, timeSym, chindingsSym, endSym, streamSym, needsMetadataGsym } = pino.symbols;
  const levelStart = (internals[lsCacheSym] as Record<number, string>)[logger.levels.values.info ?? 30] ?? '';
  const time = internals[timeSym] as () => string;
  const bindings = internals[chindingsSym] as string;
  const end = `,"msg":"request completed"${internals[endSym] as string}`;
  const stream = internals[streamSym] as pino.DestinationStream & { [needsMetadataGsym]?: boolean };
  // A stream that wants each line's level and object beside its text (pino.multistream) gets
  // them from pino itself.
  if (stream[needsMetadataGsym] === true) {
    const child = withoutRedaction(logger);
    return (line) => child.info(line, 'request completed');
  }
  return (line) => {
    if (!logger.isLevelEnabled('info')) return;
    const fields = JSON.stringify(mergeTraceFields(line, traceFields()));
    stream.write(`${levelStart}${time()}${bindings},${fields.slice(1, -1)}${end}`);
  };
}
