import { mintToken } from '../../src/dev/tokens.js';
import { SCOPES } from '../../src/http/auth.js';
import { TEST_JWT_SECRET } from './app.js';

/** An HS256 token for TEST_JWT_SECRET: all scopes unless told otherwise. */
export function token(
  options: { scopes?: readonly string[]; subject?: string; ttlSeconds?: number; secret?: string } = {},
): Promise<string> {
  return mintToken(options.secret ?? TEST_JWT_SECRET, {
    subject: options.subject ?? 'tester',
    scopes: options.scopes ?? SCOPES,
    ttlSeconds: options.ttlSeconds ?? 600,
  });
}

export async function bearer(options: Parameters<typeof token>[0] = {}): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await token(options)}` };
}
