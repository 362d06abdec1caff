import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockFile {
  readonly packages: Record<string, { readonly version?: string; readonly dev?: boolean }>;
}

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as LockFile;

/** Every installed copy of each package under `scope`, by package name; `production`: not the dev-only ones. */
function copies(scope: string, production = false): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    const at = path.lastIndexOf('node_modules/');
    if (at < 0 || (production && entry.dev === true)) continue;
    const name = path.slice(at + 'node_modules/'.length);
    if (!name.startsWith(scope)) continue;
    found.set(name, [...(found.get(name) ?? []), `${path}@${entry.version ?? '?'}`]);
  }
  return found;
}

describe('the installed dependency tree', () => {
  // sdk-node pins its family to exact versions. When a direct dependency asks for a
  // neighbouring patch, npm nests a private copy of the family under every exporter: that
  // was 18 copies of @opentelemetry/core and 2,129 modules loaded by importing sdk-node (463 with one).
  it('holds one copy of each OpenTelemetry package', () => {
    const installed = copies('@opentelemetry/');
    const duplicated = [...installed].filter(([, paths]) => paths.length > 1);
    expect(duplicated).toEqual([]);
    expect(installed.get('@opentelemetry/core')).toHaveLength(1);
  });

  // eslint 8 hoisted ajv 6 to the top, so fastify's validator compiler, fast-json-stringify
  // and ajv-formats each got a private ajv 8: three copies loaded by the server. ajv as a
  // direct dependency takes the top slot (eslint's 6 nests instead) and they share one.
  it('gives the server one copy of ajv', () => {
    expect(copies('ajv', true).get('ajv')).toEqual([expect.stringMatching(/^node_modules\/ajv@8\./)]);
  });
});
