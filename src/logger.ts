import pino, { type Logger } from 'pino';

export interface LoggerSettings {
  readonly level: string;
  /** Human-readable output: only for a developer watching a terminal. */
  readonly pretty: boolean;
}

/** Paths that may hold credentials wherever a request, header set or error is logged. */
export const REDACTED_PATHS = [
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
    base: { service: 'product-user-service' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (settings.pretty) {
    // pino-pretty is a development dependency; production never takes this branch.
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  // Asynchronous stdout: lines written while a write is in flight go out together, one
  // syscall for many requests under load, immediately when idle. pino flushes it
  // synchronously on process exit, so a crash's last lines are not lost.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
