import { describe, expect, it, vi } from 'vitest';
import { DeferredChildLogger } from '../../src/http/request-logger.js';
import { createLogger } from '../../src/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { level: 'info', pretty: false },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

describe('DeferredChildLogger', () => {
  it('builds the child only when something logs, and only once', () => {
    const { logger } = capture();
    const child = vi.spyOn(logger, 'child');
    const log = new DeferredChildLogger(logger, { request_id: 'r-1' }, {});
    expect(child).not.toHaveBeenCalled();
    log.warn('first');
    log.error({ n: 2 }, 'second');
    expect(child).toHaveBeenCalledTimes(1);
    expect(child).toHaveBeenCalledWith({ request_id: 'r-1' }, {});
  });

  it('writes what the child would: its bindings, every call shape, and redaction', () => {
    const { logger, lines } = capture();
    const log = new DeferredChildLogger(logger, { request_id: 'r-2' }, {});
    log.info('plain %s', 'message');
    log.warn({ err: new Error('boom'), headers: { authorization: 'Bearer secret-token' } }, 'with object');
    log.debug('below the level');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ request_id: 'r-2', level: 'info', msg: 'plain message' });
    expect(lines[1]).toMatchObject({
      request_id: 'r-2',
      level: 'warn',
      msg: 'with object',
      err: { message: 'boom' },
      headers: { authorization: '[redacted]' },
    });
    expect(log.level).toBe('info');
    log.child({ extra: 1 }).info('from a grandchild');
    expect(lines[2]).toMatchObject({ request_id: 'r-2', extra: 1 });
  });
});
