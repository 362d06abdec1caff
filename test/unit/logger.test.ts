import { describe, expect, it } from 'vitest';
import { accessLogger, createLogger } from '../../src/logger.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', pretty: false }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with an ISO time, a level label and the service name', () => {
    const { logger, lines } = capture();
    logger.info({ route: '/x' }, 'hello');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 'info', service: 'product-user-service', route: '/x', msg: 'hello', time: expect.stringMatching(/Z$/) });
  });

  it('redacts credentials wherever a request, header set or object carries them', () => {
    const { logger, lines } = capture();
    logger.info({
      req: { headers: { authorization: 'Bearer eyJ.secret.token', cookie: 'session=abc123', 'x-api-key': 'key-999', accept: 'application/json' } },
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
      db: { password: 'hunter2', host: 'db' },
      auth: { secret: 'jwt-secret-value', token: 'refresh-token-value' },
    }, 'with secrets');
    const line = lines.join('');
    for (const secret of ['eyJ.secret.token', 'session=abc123', 'key-999', 'dXNlcjpwYXNz', 'hunter2', 'jwt-secret-value', 'refresh-token-value']) {
      expect(line).not.toContain(secret);
    }
    expect(JSON.parse(line)).toMatchObject({ req: { headers: { authorization: '[redacted]', accept: 'application/json' } }, db: { password: '[redacted]', host: 'db' } });
  });

  it('writes the access line exactly as a request logger would, bar the time', () => {
    const { logger, lines } = capture();
    const fields = { request_id: 'req-1', method: 'GET', route: '/api/v1/products/:id', url: '/api/v1/products/x?token=t', status: 200, duration_ms: 1.25 };
    accessLogger(logger)(fields);
    const { request_id, ...rest } = fields;
    logger.child({ request_id }).info(rest, 'request completed');
    const [viaAccess, viaChild] = lines.map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));
    expect(viaAccess).toBe(viaChild);
    expect(JSON.parse(viaAccess ?? '')).toMatchObject({ level: 'info', service: 'product-user-service', msg: 'request completed', ...fields });
  });
});
