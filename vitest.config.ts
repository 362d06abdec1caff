import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each file gets its own database, so files run in parallel safely.
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Under CI a JSON report is written too, so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'coverage/vitest-results.json' }]] : ['default'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      // Only ever run in child processes, where in-process coverage cannot see them:
      // telemetry.ts is loaded with --import (test/process/tracing.test.ts), cluster.ts runs in
      // a WORKERS=2 primary (test/process/cluster.test.ts, graceful-shutdown.test.ts).
      exclude: ['src/telemetry.ts', 'src/cluster.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90 },
    },
  },
});
