import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LogFn } from 'pino';

/**
 * `request.log`, made when something first logs through it. Fastify builds a child logger
 * for every request, and with wildcard redact paths pino runs its redactor over the child's
 * request-id binding while building it; this service logs through `request.log` only for
 * errors and load shedding (the per-request line has a path of its own, logger.ts).
 */
export class DeferredChildLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  /** Adds fields to every line of this request (its trace id, when it has no span). */
  bind(bindings: Bindings): void {
    if (this.#child === undefined) this.#bindings = { ...this.#bindings, ...bindings };
    else this.#child = this.#child.child(bindings);
  }

  get #logger(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options));
  }

  get level(): string {
    return this.#logger.level;
  }

  set level(level: string) {
    this.#logger.level = level;
  }

  // Rest parameters of `unknown` accept every overload of pino's LogFn.
  fatal(...args: unknown[]): void {
    this.#logger.fatal(...(args as Parameters<LogFn>));
  }

  error(...args: unknown[]): void {
    this.#logger.error(...(args as Parameters<LogFn>));
  }

  warn(...args: unknown[]): void {
    this.#logger.warn(...(args as Parameters<LogFn>));
  }

  info(...args: unknown[]): void {
    this.#logger.info(...(args as Parameters<LogFn>));
  }

  debug(...args: unknown[]): void {
    this.#logger.debug(...(args as Parameters<LogFn>));
  }

  trace(...args: unknown[]): void {
    this.#logger.trace(...(args as Parameters<LogFn>));
  }

  silent(...args: unknown[]): void {
    this.#logger.silent(...(args as Parameters<LogFn>));
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger.child(bindings, options);
  }
}
