import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { exitOnSignals } from '../../src/process/signals.js';

const logger = pino({ level: 'silent' });

function setup(shutdown: () => Promise<void>, deadlineMs = 1000) {
  const signals = new EventEmitter();
  const exit = vi.fn<(code: number) => void>();
  exitOnSignals(signals, shutdown, { logger, deadlineMs, exit });
  return { signals, exit };
}

describe('exitOnSignals', () => {
  it('runs one graceful shutdown on SIGTERM and exits 0 when it completes', async () => {
    const shutdown = vi.fn(() => Promise.resolve());
    const { signals, exit } = setup(shutdown);
    signals.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0));
    expect(shutdown).toHaveBeenCalledTimes(1);
  });

  it('exits 1 at once on a second signal while the first shutdown is still running', () => {
    const { signals, exit } = setup(() => new Promise<void>(() => undefined));
    signals.emit('SIGINT', 'SIGINT');
    expect(exit).not.toHaveBeenCalled();
    signals.emit('SIGTERM', 'SIGTERM');
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('exits 1 when the shutdown fails', async () => {
    const { signals, exit } = setup(() => Promise.reject(new Error('pool would not close')));
    signals.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(1));
  });

  it('exits 1 when the shutdown outlives its deadline', async () => {
    vi.useFakeTimers();
    try {
      const { signals, exit } = setup(() => new Promise<void>(() => undefined), 5000);
      signals.emit('SIGTERM', 'SIGTERM');
      await vi.advanceTimersByTimeAsync(4999);
      expect(exit).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(exit).toHaveBeenCalledWith(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
