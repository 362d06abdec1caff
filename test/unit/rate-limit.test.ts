import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/http/rate-limit.js';

describe('RateLimiter', () => {
  it('allows max requests per window, then refuses until the window ends', () => {
    const limiter = new RateLimiter({ max: 2, windowMs: 10_000 });
    const t0 = 1_000_000;
    expect(limiter.take('a', t0)).toEqual({ allowed: true, limit: 2, remaining: 1, resetSeconds: 10 });
    expect(limiter.take('a', t0 + 1)).toEqual({ allowed: true, limit: 2, remaining: 0, resetSeconds: 10 });
    expect(limiter.take('a', t0 + 2_500)).toEqual({ allowed: false, limit: 2, remaining: 0, resetSeconds: 8 });
    // Refused requests count too, and the window does not move because of them.
    expect(limiter.take('a', t0 + 9_999)).toEqual({ allowed: false, limit: 2, remaining: 0, resetSeconds: 1 });
    expect(limiter.take('a', t0 + 10_000)).toEqual({ allowed: true, limit: 2, remaining: 1, resetSeconds: 10 });
  });

  it('counts each caller separately', () => {
    const limiter = new RateLimiter({ max: 1, windowMs: 1_000 });
    expect(limiter.take('a', 0).allowed).toBe(true);
    expect(limiter.take('a', 1).allowed).toBe(false);
    expect(limiter.take('b', 2).allowed).toBe(true);
  });

  it('remembers a bounded number of callers, dropping ended windows before running ones', () => {
    const limiter = new RateLimiter({ max: 1, windowMs: 1_000, callers: 3 });
    limiter.take('old', 0);
    limiter.take('b', 600);
    limiter.take('c', 700);
    // 'old' has ended by 1,100: it goes, the running windows stay.
    limiter.take('d', 1_100);
    expect(limiter.size).toBe(3);
    expect(limiter.take('b', 1_200).allowed).toBe(false);
    expect(limiter.take('c', 1_200).allowed).toBe(false);
    // All running: the one that began first is forgotten, and only that one.
    limiter.take('e', 1_300);
    expect(limiter.size).toBe(3);
    expect(limiter.take('b', 1_400).allowed).toBe(true);
    expect(limiter.size).toBe(3);
  });

  it('a restarted window moves behind the running ones', () => {
    const limiter = new RateLimiter({ max: 1, windowMs: 1_000, callers: 2 });
    limiter.take('a', 0);
    limiter.take('b', 500);
    limiter.take('a', 1_000); // a's new window runs to 2,000; b's to 1,500
    limiter.take('c', 1_100); // full: b began first and goes, not a
    expect(limiter.take('a', 1_200).allowed).toBe(false);
    expect(limiter.take('b', 1_200).allowed).toBe(true);
  });
});
