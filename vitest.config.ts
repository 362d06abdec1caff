import { defineConfig } from 'vitest/config';

/**
 * Three projects, all run by `npm test`: unit tests need nothing but Node (no database is
 * started for them: `npm run test:unit`); repository checks read the project's own files
 * (Dockerfile, manifests, lockfile, lint rules); the rest talk to a real PostgreSQL.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    // Under CI a JSON report is written too, so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'coverage/vitest-results.json' }]] : ['default'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      // Only ever run in child processes, where in-process coverage cannot see them:
      // telemetry/preload.ts is loaded with --import (test/process/tracing.test.ts), and
      // process/cluster.ts runs in a WORKERS=2 primary (test/process/cluster.test.ts).
      exclude: ['src/telemetry/preload.ts', 'src/process/cluster.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90 },
    },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'repository', include: ['test/repository/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'database',
          include: [
            'test/integration/**/*.test.ts',
            'test/api/**/*.test.ts',
            'test/grpc/**/*.test.ts',
            'test/events/**/*.test.ts',
            'test/cache/**/*.test.ts',
            'test/process/**/*.test.ts',
          ],
          // One PostgreSQL server for the run; each file makes a database of its own on it, so
          // files run in parallel without seeing each other's rows.
          globalSetup: ['test/helpers/global-setup.ts'],
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
