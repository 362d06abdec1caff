import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  accessLogger,
  createLogger,
  isoTimeField,
  lineBatchingDestination,
  mergeTraceFields,
  redactUrl,
  traceFields,
  untracedFields,
  newTraceId,
} from '../../src/logger.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', pretty: false }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with an ISO time, a level label and the service name', () => {
    const { logger, lines } = capture();
    logger.info({ route: '/x' }, 'hello');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      level: 'info',
      service: 'product-user-service',
      route: '/x',
      msg: 'hello',
      time: expect.stringMatching(/Z$/),
    });
  });

  it('redacts credentials wherever a request, header set or object carries them', () => {
    const { logger, lines } = capture();
    const logged = {
      req: {
        headers: {
          authorization: 'Bearer eyJ.secret.token',
          cookie: 'session=abc123',
          'x-api-key': 'key-999',
          accept: 'application/json',
        },
      },
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
      db: { password: 'hunter2', host: 'db' },
      auth: { secret: 'jwt-secret-value', token: 'refresh-token-value' },
      authorization: 'Bearer top-level',
    };
    const before = structuredClone(logged);
    logger.info(logged, 'with secrets');
    // Untraced lines are written from the caller's own object: redaction must leave it as it was.
    expect(logged).toEqual(before);
    const line = lines.join('');
    for (const secret of [
      'eyJ.secret.token',
      'session=abc123',
      'key-999',
      'dXNlcjpwYXNz',
      'hunter2',
      'jwt-secret-value',
      'refresh-token-value',
      'top-level',
    ]) {
      expect(line).not.toContain(secret);
    }
    expect(JSON.parse(line)).toMatchObject({
      req: { headers: { authorization: '[redacted]', accept: 'application/json' } },
      db: { password: '[redacted]', host: 'db' },
    });
  });

  it('writes the access line exactly as pino writes the same fields, bar the time', () => {
    const { logger, lines } = capture();
    const logAccess = accessLogger(logger);
    const lineOf = {
      request_id: 'req-1',
      method: 'GET',
      route: '/api/v1/products/:id',
      url: '/api/v1/products/x?token=[redacted]',
      status: 200,
      duration_ms: 1.25,
    };
    const cases = [
      lineOf,
      { ...lineOf, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', trace_flags: '00' },
      { ...lineOf, trace_id: undefined, trace_flags: undefined },
      // What a URL can bring: quotes, backslashes, control characters, Latin-1 bytes as characters.
      { ...lineOf, url: '/a"b\\c\u0001d\u00e9\u007f', status: 404, duration_ms: 0.1 },
      { ...lineOf, url: `/${'x'.repeat(150)}"`, route: 'unmatched', duration_ms: 1234.56 },
    ];
    for (const fields of cases) {
      lines.length = 0;
      logAccess(fields);
      logger.info(fields, 'request completed');
      const [viaAccess, viaPino] = lines.map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));
      expect(viaAccess).toBe(viaPino);
    }
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 'info', service: 'product-user-service' });
  });

  it('writes the access line with the worker’s binding, and not below the logger’s level', () => {
    const lines: string[] = [];
    const logger = createLogger(
      { level: 'warn', pretty: false, worker: 2 },
      { write: (line: string) => void lines.push(line) },
    );
    const line = { request_id: 'r', method: 'GET', route: '/x', url: '/x', status: 200, duration_ms: 1 };
    accessLogger(logger)(line);
    expect(lines).toEqual([]);
    logger.level = 'info';
    accessLogger(logger)(line);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ service: 'product-user-service', worker: 2, ...line });
  });
});

describe('isoTimeField', () => {
  afterEach(() => void vi.useRealTimers());

  it('is the current millisecond in ISO 8601, formatted again as soon as the clock moves', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-22T10:00:00.123Z'));
    expect(isoTimeField()).toBe(',"time":"2026-11-22T10:00:00.123Z"');
    expect(isoTimeField()).toBe(',"time":"2026-11-22T10:00:00.123Z"');
    vi.setSystemTime(new Date('2026-11-22T10:00:00.124Z'));
    expect(isoTimeField()).toBe(',"time":"2026-11-22T10:00:00.124Z"');
  });
});

describe('trace correlation', () => {
  // What telemetry/preload.ts registers in the service; here without the SDK, nothing exported.
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => void context.setGlobalContextManager(manager.enable()));
  afterAll(() => {
    manager.disable();
    context.disable();
  });

  it('puts the active span’s ids on every line written inside it, the access line too; none outside', async () => {
    const { logger, lines } = capture();
    const span = trace.wrapSpanContext({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
    });
    await context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
      await Promise.resolve();
      logger.info('inside');
      accessLogger(logger)({ request_id: 'r', method: 'GET', route: '/x', url: '/x', status: 200, duration_ms: 1 });
      logger.info(
        { request_id: 'r', method: 'GET', route: '/x', url: '/x', status: 200, duration_ms: 1 },
        'request completed',
      );
    });
    logger.info('outside');
    // Byte for byte what pino writes for the same fields inside the same span, bar the time.
    const [, viaAccess, viaPino] = lines.map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));
    expect(viaAccess).toBe(viaPino);
    const [inside, access, , outside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const ids = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', trace_flags: '01' };
    expect(inside).toMatchObject({ ...ids, msg: 'inside' });
    expect(access).toMatchObject({ ...ids, msg: 'request completed', request_id: 'r' });
    expect(outside).not.toHaveProperty('trace_id');
    expect(outside).not.toHaveProperty('span_id');
  });

  it('writes an untraced line from its own object, neither copied nor changed', () => {
    const line = { request_id: 'r', status: 200 };
    expect(mergeTraceFields(line, traceFields())).toBe(line);
    expect(line).toEqual({ request_id: 'r', status: 200 });
  });

  it('lets a line’s own field win over a trace field of the same name', () => {
    const { logger, lines } = capture();
    const span = trace.wrapSpanContext({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
    });
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => logger.info({ span_id: 'mine' }, 'x'));
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: 'mine' });
  });

  it('adds nothing for an invalid span context', () => {
    const { logger, lines } = capture();
    context.with(
      trace.setSpan(
        ROOT_CONTEXT,
        trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }),
      ),
      () => logger.info('x'),
    );
    expect(JSON.parse(lines[0] ?? '')).not.toHaveProperty('trace_id');
  });
});

describe('lineBatchingDestination', () => {
  const dir = mkdtempSync(join(tmpdir(), 'log-lines-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function fileDestination(name: string) {
    const path = join(dir, name);
    const fd = openSync(path, 'w');
    return {
      destination: lineBatchingDestination(fd),
      written: () => readFileSync(path, 'utf8'),
      close: () => closeSync(fd),
    };
  }
  const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));
  const line = (n: number) => `${JSON.stringify({ n, pad: 'x'.repeat(280) })}\n`;

  it('writes the lines of one event-loop turn together when the turn ends', async () => {
    const { destination, written, close } = fileDestination('turn.log');
    destination.write(line(1));
    destination.write(line(2));
    expect(written()).toBe('');
    await endOfTurn();
    expect(written()).toBe(line(1) + line(2));
    destination.write(line(3));
    await endOfTurn();
    expect(written()).toBe(line(1) + line(2) + line(3));
    close();
  });

  it('holds at most 4 KiB, and writes whole lines, however many lines one turn writes', async () => {
    const { destination, written, close } = fileDestination('busy.log');
    const lines = Array.from({ length: 200 }, (_, n) => line(n));
    let sent = 0;
    for (const l of lines) {
      destination.write(l);
      sent += l.length;
      const out = written();
      expect(sent - out.length).toBeLessThanOrEqual(4096);
      expect(out === '' || out.endsWith('\n')).toBe(true);
    }
    expect(written().length).toBeGreaterThan(0);
    await endOfTurn();
    expect(written()).toBe(lines.join(''));
    close();
  });

  it('writes characters of two, three and four bytes whole, wherever a 4 KiB write ends', async () => {
    const { destination, written, close } = fileDestination('utf8.log');
    // Lines whose multi-byte characters fall on every offset around the end of a write.
    const lines = Array.from(
      { length: 120 },
      (_, n) => `${JSON.stringify({ n, text: `${'a'.repeat(n % 7)}é€😀${'ü'.repeat(40 + (n % 13))}` })}\n`,
    );
    for (const l of lines) destination.write(l);
    await endOfTurn();
    expect(written()).toBe(lines.join(''));
    close();
  });

  it('writes a line longer than 4 KiB whole, on its own, after the lines before it', async () => {
    const { destination, written, close } = fileDestination('long.log');
    const long = `${JSON.stringify({ pad: 'y'.repeat(9000), name: 'Ωmega' })}\n`;
    destination.write(line(1));
    destination.write(long);
    expect(written()).toBe(line(1) + long);
    destination.write(line(2));
    await endOfTurn();
    expect(written()).toBe(line(1) + long + line(2));
    close();
  });

  it('writes what it holds at once on flushSync, as it does on exit', () => {
    const { destination, written, close } = fileDestination('exit.log');
    destination.write(line(1));
    destination.flushSync();
    expect(written()).toBe(line(1));
    close();
  });
});

describe('redactUrl', () => {
  it('replaces the values of credential-like parameters, whatever their spelling', () => {
    expect(redactUrl('/a?access_token=abc&limit=5')).toBe('/a?access_token=[redacted]&limit=5');
    expect(redactUrl('/a?limit=5&API_KEY=abc')).toBe('/a?limit=5&API_KEY=[redacted]');
    expect(redactUrl('/a?access%5Ftoken=abc')).toBe('/a?access%5Ftoken=[redacted]');
    expect(redactUrl('/a?password')).toBe('/a?password=[redacted]');
    expect(redactUrl('/a?token=1&token=2')).toBe('/a?token=[redacted]&token=[redacted]');
  });

  it('leaves other URLs as they are', () => {
    for (const url of ['/a', '/a?limit=5&sort=-name', '/a?q=token', '/a?tokenish=1', '/a?q=%FF']) {
      expect(redactUrl(url)).toBe(url);
    }
  });
});

describe('untracedFields', () => {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => void context.setGlobalContextManager(manager.enable()));
  afterAll(() => {
    manager.disable();
    context.disable();
  });

  it('takes the caller’s trace id from a valid traceparent, flagged as not recorded', () => {
    expect(untracedFields('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      trace_flags: '00',
    });
  });

  it('makes a new trace id without one, or for an invalid one', () => {
    for (const header of [undefined, 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, ['a', 'b']]) {
      const fields = untracedFields(header);
      expect(fields?.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(fields?.trace_id).not.toBe('0'.repeat(32));
    }
    expect(untracedFields(undefined)?.trace_id).not.toBe(untracedFields(undefined)?.trace_id);
  });

  it('draws new ids from a pool that refills: each one fresh, 32 hex digits', () => {
    const ids = Array.from({ length: 600 }, () => newTraceId());
    expect(ids.every((id) => /^[0-9a-f]{32}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(600);
  });

  it('is undefined inside a span, whose own ids the mixin writes', () => {
    const span = trace.wrapSpanContext({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
    });
    expect(context.with(trace.setSpan(ROOT_CONTEXT, span), () => untracedFields(undefined))).toBeUndefined();
  });
});
