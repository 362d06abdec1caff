import { existsSync, readFileSync } from 'node:fs';
import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runtimeImage, sizeFlag } from '../helpers/dockerfile.js';

const dockerfile = DockerfileParser.parse(readFileSync('Dockerfile', 'utf8'));
const instructions = dockerfile
  .getInstructions()
  .map((i) => ({ keyword: i.getKeyword(), args: i.getArgumentsContent() ?? '' }));
const stages = dockerfile
  .getFROMs()
  .map((from) => ({ image: from.getImageName(), tag: from.getImageTag(), name: from.getBuildStage() }));
const { instructions: runtime, command, env } = runtimeImage();

describe('Dockerfile', () => {
  it('builds in one stage and runs from a fresh Node 24 stage', () => {
    expect(stages).toHaveLength(2);
    for (const stage of stages) expect(`${stage.image}:${stage.tag ?? ''}`).toMatch(/^node:24-/);
    const build = instructions
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(build).toMatch(/npm ci/);
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm prune --omit=dev/);
  });

  it('runs as a non-root user in production mode, node started directly in exec form', () => {
    expect(runtime.find((i) => i.keyword === 'USER')?.args).toBe('node');
    expect(env.NODE_ENV).toBe('production');
    expect(command[0]).toBe('node');
    expect(runtime.some((i) => i.keyword === 'ENTRYPOINT')).toBe(false);
  });

  it('runs what `npm start` runs: OpenTelemetry preloaded first, then source maps for the service code only', () => {
    const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } };
    expect(command).toEqual(scripts.start.split(/\s+/));
    // --enable-source-maps would also keep the maps of the OpenTelemetry modules loaded first (~15 MiB).
    expect(command).toEqual([
      'node',
      // V8's allocation-site pretenuring could double a worker's CPU per request for good (docs/performance.md).
      '--no-allocation-site-pretenuring',
      '--import',
      './dist/telemetry/preload.js',
      '--import',
      './dist/telemetry/source-maps.js',
      'dist/main.js',
    ]);
    for (const built of command.filter((a) => a.endsWith('.js')))
      expect(existsSync(built.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts'))).toBe(true);
  });

  it("caps the V8 heap, young generation included, and malloc's arenas (the benchmark runs with the same)", () => {
    // Node 24 defaults to 64 MiB semi-spaces, which starve a small old space: both are set.
    expect(sizeFlag(env.NODE_OPTIONS, 'max-old-space-size')).toBe(256);
    expect(sizeFlag(env.NODE_OPTIONS, 'max-semi-space-size')).toBe(8);
    // glibc's default (8 arenas per core) gives V8's and libuv's helper threads arenas of their own.
    expect(env.MALLOC_ARENA_MAX).toBe('2');
  });

  it('copies only build output, production dependencies and migrations into the runtime stage', () => {
    const copied = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied.join('\n')).not.toMatch(/\bsrc\b|\btest\b|\.env|tsconfig/);
  });
});

describe('.dockerignore', () => {
  it('starts from nothing and lets in only what the build reads', () => {
    const lines = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('**');
    expect(lines.slice(1).every((l) => l.startsWith('!'))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/\.env|\.data|node_modules|test/);
  });
});

describe('docker-compose.yml', () => {
  type Service = {
    image?: string;
    build?: string;
    command?: string[];
    depends_on?: Record<string, { condition?: string }> | string[];
    healthcheck?: { test: string[] };
    profiles?: string[];
    environment?: Record<string, string>;
  };
  const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service> };

  it('starts the service only once PostgreSQL 18 is healthy', () => {
    const { app, postgres } = compose.services;
    expect(postgres?.image).toBe('postgres:18');
    expect(postgres?.healthcheck?.test.join(' ')).toMatch(/pg_isready/);
    expect(app?.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    expect(app?.environment?.DATABASE_URL).toMatch(/@postgres:5432\//);
  });

  it('runs Valkey for the shared read cache, healthchecked, and points the service at it', () => {
    const { app, valkey } = compose.services;
    expect(valkey?.image).toMatch(/^valkey\/valkey:8/);
    expect(valkey?.healthcheck?.test.join(' ')).toMatch(/ping/);
    expect(app?.depends_on).toMatchObject({ valkey: { condition: 'service_healthy' } });
    expect(app?.environment?.REDIS_URL).toBe('redis://valkey:6379');
  });

  it('runs NATS with JetStream on a volume, healthchecked, and points the service at it', () => {
    const { app, nats } = compose.services;
    expect(nats?.image).toMatch(/^nats:2\./);
    expect(nats?.command).toEqual(expect.arrayContaining(['-js', '-sd']));
    expect(nats?.healthcheck?.test.join(' ')).toMatch(/healthz/);
    expect(app?.depends_on).toMatchObject({ nats: { condition: 'service_healthy' } });
    expect(app?.environment?.NATS_URL).toBe('nats://nats:4222');
  });

  it('offers an observability profile: OpenTelemetry Collector, Jaeger and Prometheus wired to the service', () => {
    const observability = Object.entries(compose.services)
      .filter(([, s]) => s.profiles?.includes('observability'))
      .map(([name]) => name)
      .sort();
    expect(observability).toEqual(['jaeger', 'otel-collector', 'prometheus']);
    expect(compose.services.app?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
    const prometheus = parse(readFileSync('deploy/observability/prometheus.yml', 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(prometheus.scrape_configs[0]?.static_configs[0]?.targets).toEqual(['app:8080']);
  });
});
