import { setTimeout as sleep } from 'node:timers/promises';
import { trace } from '@opentelemetry/api';
import type { Logger } from 'pino';

/**
 * Ends the tracer provider that the --import preload (telemetry/preload.ts) registered, which
 * exports the spans still buffered. Reached through the OpenTelemetry API so that nothing
 * imports the preload; without a preload the API's no-op provider has nothing to end.
 */
export async function flushTelemetry(logger: Logger, timeoutMs: number): Promise<void> {
  const global = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const provider = (global.getDelegate?.() ?? global) as { shutdown?: () => Promise<void> };
  if (provider.shutdown === undefined) return;
  // Spans are worth a short wait, never a failed or late exit: an unreachable collector
  // would otherwise hold the process in export retries.
  const flushed = provider.shutdown().then(
    () => true,
    (err: unknown) => {
      logger.warn({ err }, 'could not export the last spans');
      return true;
    },
  );
  if (!(await Promise.race([flushed, sleep(timeoutMs).then(() => false)]))) {
    logger.warn({ timeout_ms: timeoutMs }, 'gave up exporting the last spans');
  }
}
