import { createRequire } from 'node:module';
import { ESLint, type Linter } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rule of .eslintrc.cjs, checked by planting imports in each folder of src/:
 * each forbidden one must fail `npm run lint`, each allowed one must pass. Only the layer
 * rules run here (no type information is needed for them), from the project's own config.
 */
const project = createRequire(import.meta.url)('../../.eslintrc.cjs') as Linter.Config;
const eslint = new ESLint({
  useEslintrc: false,
  overrideConfig: {
    parser: project.parser,
    parserOptions: { sourceType: 'module' },
    plugins: ['import'],
    settings: project.settings,
    rules: { 'import/no-restricted-paths': project.rules?.['import/no-restricted-paths'] ?? 'off' },
    overrides: project.overrides?.filter((override) => override.rules?.['no-restricted-imports'] !== undefined),
  },
});

async function problems(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport {};\n`, { filePath: file });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const FORBIDDEN: readonly [file: string, source: string][] = [
  ['src/domain/planted.ts', "import '../services/product-service.js';"],
  ['src/domain/planted.ts', "import 'node:crypto';"],
  ['src/services/planted.ts', "import '../postgres/database.js';"],
  ['src/services/planted.ts', "import 'pg';"],
  ['src/services/planted.ts', "import '../config.js';"],
  ['src/postgres/planted.ts', "import '../http/app.js';"],
  ['src/postgres/planted.ts', "import '../config.js';"],
  ['src/http/planted.ts', "import '../postgres/pool.js';"],
  ['src/http/planted.ts', "import '../dev/tokens.js';"],
  ['src/http/planted.ts', "import '../compose.js';"],
  ['src/grpc/planted.ts', "import '../postgres/database.js';"],
  ['src/grpc/planted.ts', "import '../http/app.js';"],
  ['src/grpc/planted.ts', "import '../config.js';"],
  ['src/http/planted.ts', "import '../grpc/routes.js';"],
  ['src/events/planted.ts', "import '../postgres/outbox-store.js';"],
  ['src/events/planted.ts', "import '../nats/jetstream-publisher.js';"],
  ['src/nats/planted.ts', "import '../postgres/database.js';"],
  ['src/nats/planted.ts', "import '../events/relay.js';"],
  ['src/cache/planted.ts', "import '../postgres/database.js';"],
  ['src/services/planted.ts', "import '../cache/cached-repository.js';"],
  ['src/services/planted.ts', "import '@nats-io/jetstream';"],
  ['src/process/planted.ts', "import '../http/app.js';"],
  ['src/process/planted.ts', "import '../compose.js';"],
  ['src/process/planted.ts', "import '../main.js';"],
  ['src/dev/planted.ts', "import '../postgres/pool.js';"],
  ['src/dev/planted.ts', "import '../process/signals.js';"],
  ['src/dev/planted.ts', "import '../http/app.js';"],
  ['src/cli/planted.ts', "import '../http/app.js';"],
  ['src/process/planted.ts', "import '../services/product-service.js';"],
  ['src/cli/planted.ts', "import '../process/cluster.js';"],
  ['src/cli/planted.ts', "import '../telemetry/head-sampling.js';"],
  ['src/telemetry/planted.ts', "import '../logger.js';"],
  ['src/telemetry/planted.ts', "import '../config.js';"],
  ['src/config.ts', "import './cli/token.js';"],
  ['src/compose.ts', "import './main.js';"],
  ['src/compose.ts', "import './process/signals.js';"],
  ['src/logger.ts', "import './telemetry/preload.js';"],
];

const ALLOWED: readonly [file: string, source: string][] = [
  ['src/services/planted.ts', "import '../domain/errors.js';"],
  ['src/postgres/planted.ts', "import '../services/product-service.js';"],
  ['src/http/planted.ts', "import '../services/product-service.js';"],
  ['src/grpc/planted.ts', "import '../services/product-service.js';"],
  ['src/grpc/planted.ts', "import '../http/metrics.js';"],
  ['src/http/planted.ts', "import '../logger.js';"],
  ['src/process/planted.ts', "import '../dev/embedded-postgres.js';"],
  ['src/process/planted.ts', "import '../postgres/migrate.js';"],
  ['src/cli/planted.ts', "import '../postgres/migrate.js';"],
  ['src/dev/planted.ts', "import '../http/auth.js';"],
  ['src/telemetry/planted.ts', "import './head-sampling.js';"],
  ['src/main.ts', "import './compose.js';"],
  ['src/events/planted.ts', "import '../services/event-relay.js';"],
  ['src/nats/planted.ts', "import '../services/event-relay.js';"],
  ['src/postgres/planted.ts', "import '../services/event-feed.js';"],
  ['src/cache/planted.ts', "import '../services/write-outcome.js';"],
];

describe('the dependency rule (.eslintrc.cjs)', () => {
  it.each(FORBIDDEN)('refuses, in %s, %s', async (file, source) => {
    const found = await problems(file, source);
    expect(found).not.toEqual([]);
    for (const problem of found) expect(problem).toMatch(/^(import\/no-restricted-paths|no-restricted-imports): /);
  });

  it.each(ALLOWED)('allows, in %s, %s', async (file, source) => {
    expect(await problems(file, source)).toEqual([]);
  });
});
