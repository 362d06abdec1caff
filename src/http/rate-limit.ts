import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { HttpProblem } from './error-handler.js';

export interface RateLimitSettings {
  /** Requests allowed per caller per window. */
  readonly max: number;
  readonly windowMs: number;
  /** Callers remembered at once; past it the caller whose window began first is forgotten. */
  readonly callers?: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Whole seconds until the caller's window ends (at least 1). */
  readonly resetSeconds: number;
}

const DEFAULT_CALLERS = 10_000;

/**
 * Fixed-window request counts per caller, in this process's memory (per replica and per
 * worker; docs/operations.md says so). Synchronous on purpose: a store behind a promise adds
 * promises and async resources to every request, each a context copy for OpenTelemetry.
 */
export class RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #callers: number;
  /** In order of window start: a window that restarts is moved to the end. */
  readonly #windows = new Map<string, { startedAt: number; count: number }>();

  constructor(settings: RateLimitSettings) {
    this.#max = settings.max;
    this.#windowMs = settings.windowMs;
    this.#callers = settings.callers ?? DEFAULT_CALLERS;
  }

  /** Counts one request of `key` and says whether it may go ahead. */
  take(key: string, now: number = Date.now()): RateDecision {
    let window = this.#windows.get(key);
    if (window === undefined || window.startedAt + this.#windowMs <= now) {
      if (window !== undefined) this.#windows.delete(key);
      else this.#makeRoom(now);
      window = { startedAt: now, count: 0 };
      this.#windows.set(key, window);
    }
    window.count += 1;
    const resetSeconds = Math.max(1, Math.ceil((window.startedAt + this.#windowMs - now) / 1000));
    return {
      allowed: window.count <= this.#max,
      limit: this.#max,
      remaining: Math.max(0, this.#max - window.count),
      resetSeconds,
    };
  }

  /** The window's length, for messages. */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Callers currently remembered (for tests of the memory bound). */
  get size(): number {
    return this.#windows.size;
  }

  #makeRoom(now: number): void {
    if (this.#windows.size < this.#callers) return;
    // Oldest windows first, so the sweep stops at the first one still running.
    for (const [key, window] of this.#windows) {
      if (window.startedAt + this.#windowMs > now) break;
      this.#windows.delete(key);
    }
    if (this.#windows.size < this.#callers) return;
    const oldest = this.#windows.keys().next();
    if (oldest.done !== true) this.#windows.delete(oldest.value);
  }
}

export type RateLimitHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/**
 * Counts a request against its caller's limit, after authentication (api-guard.ts), so the
 * key is the verified token subject rather than a value a caller could forge; the client IP
 * for anonymous callers. Every limited response carries the IETF draft headers; a refusal is
 * a 429 problem with Retry-After.
 */
export function rateLimitHook(limiter: RateLimiter): RateLimitHook {
  const windowSeconds = Math.max(1, Math.round(limiter.windowMs / 1000));
  return (request, reply, done) => {
    const principal = request.principal;
    const key =
      principal !== null && principal.subject !== 'anonymous' ? `sub:${principal.subject}` : `ip:${request.ip}`;
    const decision = limiter.take(key);
    const reset = String(decision.resetSeconds);
    reply.headers({
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': reset,
    });
    if (decision.allowed) {
      done();
      return;
    }
    const detail = `Rate limit of ${decision.limit} requests per ${windowSeconds} s exceeded; retry after ${reset} s`;
    done(new HttpProblem(429, 'rate-limited', 'Too many requests', detail, { 'retry-after': reset }));
  };
}
