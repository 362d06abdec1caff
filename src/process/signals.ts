import type { Logger } from 'pino';

export interface SignalOptions {
  readonly logger: Logger;
  /** SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS: past this, give up on a clean exit. */
  readonly deadlineMs: number;
  readonly exit: (code: number) => void;
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /**
   * A cluster worker ignores repeated signals: a process-group or cgroup-wide SIGTERM reaches
   * it besides the primary's own, and the primary enforces the deadline anyway.
   */
  readonly ignoreRepeats?: boolean;
}

/**
 * SIGTERM/SIGINT start one graceful shutdown and exit 0 when it completes; a second signal,
 * a failed shutdown or the deadline exit non-zero at once.
 */
export function exitOnSignals(
  signals: NodeJS.EventEmitter,
  shutdown: () => Promise<void>,
  options: SignalOptions,
): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled && options.ignoreRepeats === true) return;
    if (signalled) {
      options.logger.warn({ signal }, 'second signal: exiting immediately');
      options.exit(1);
      return;
    }
    signalled = true;
    options.logger.info({ signal }, 'signal received: shutting down');
    const deadline = setTimeout(() => {
      options.logger.error({ deadline_ms: options.deadlineMs }, 'shutdown did not finish in time: exiting');
      options.exit(1);
    }, options.deadlineMs);
    deadline.unref();
    shutdown().then(
      () => {
        clearTimeout(deadline);
        options.exit(0);
      },
      (err: unknown) => {
        clearTimeout(deadline);
        options.logger.error({ err }, 'shutdown failed');
        options.exit(1);
      },
    );
  };
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) signals.on(signal, onSignal);
}
