import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { runTokenCommand } from '../../src/cli/token.js';

async function run(args: string[], env: Record<string, string>) {
  const lines: string[] = [];
  const code = await runTokenCommand(args, env, (line) => lines.push(line));
  return { code, output: lines.join('\n') };
}

describe('npm run token', () => {
  it('mints a token with the asked scopes, verifiable with AUTH_JWT_SECRET, with issuer and audience', async () => {
    const secret = 's'.repeat(40);
    const { code, output } = await run(['--scope', 'products:read users:write', '--sub', 'ci', '--ttl', '120'], {
      AUTH_JWT_SECRET: secret,
      AUTH_ISSUER: 'iss',
      AUTH_AUDIENCE: 'aud',
    });
    expect(code).toBe(0);
    const { payload } = await jwtVerify(output, new TextEncoder().encode(secret), { issuer: 'iss', audience: 'aud' });
    expect(payload).toMatchObject({ sub: 'ci', scope: 'products:read users:write' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(120);
  });

  it('uses the development secret file, creating it once, when no secret is configured', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'token-')), 'secret');
    const first = await run([], { DEV_SECRET_FILE: file });
    const second = await run([], { DEV_SECRET_FILE: file });
    expect([first.code, second.code]).toEqual([0, 0]);
    const secret = (await readFile(file, 'utf8')).trim();
    expect(secret).toHaveLength(64);
    await expect(jwtVerify(second.output, new TextEncoder().encode(secret))).resolves.toBeDefined();
    expect(decodeJwt(first.output).scope).toBe('products:read products:write users:read users:write events:read');
  });

  it('fails clearly without a secret in production-like setups and on bad arguments', async () => {
    expect(
      (
        await run([], {
          NODE_ENV: 'production',
          DATABASE_URL: 'postgres://x',
          AUTH_JWKS_URL: 'https://idp.example/jwks',
        })
      ).output,
    ).toMatch(/No HS256 secret/);
    expect((await run(['--ttl', '-1'], {})).code).toBe(2);
    expect((await run(['--bogus'], {})).code).toBe(2);
    expect((await run([], { PORT: 'x' })).code).toBe(1);
  });
});
