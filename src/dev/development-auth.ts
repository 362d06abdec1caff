import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config.js';
import { SCOPES } from '../http/auth.js';
import { mintToken } from './tokens.js';

/**
 * Development only: an HS256 secret kept in a git-ignored file, so that tokens minted by
 * `npm run token` keep working across restarts. Production must set AUTH_JWT_SECRET or
 * AUTH_JWKS_URL (config.ts refuses to start otherwise).
 */
async function developmentSecret(file: string): Promise<string> {
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch {
    // Not created yet.
  }
  const secret = randomBytes(32).toString('hex');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** The HS256 secret to verify with: configured, or the development one when nothing is. */
export async function hmacSecret(config: Config): Promise<string | undefined> {
  if (config.auth.jwtSecret !== undefined) return config.auth.jwtSecret;
  if (config.production || config.auth.jwksUrl !== undefined || config.auth.mode === 'none') return undefined;
  return developmentSecret(config.devSecretFile);
}

/** A ready-to-paste token with every scope and a curl line that uses it. */
async function developmentBanner(config: Config, secret: string, url: string): Promise<string> {
  const token = await mintToken(secret, {
    subject: 'developer',
    scopes: SCOPES,
    ttlSeconds: 12 * 3600,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
  });
  return [
    '',
    'Development token (all scopes, valid 12 h; mint others with: npm run token -- --scope "products:read"):',
    `  export TOKEN=${token}`,
    `  curl -H "Authorization: Bearer $TOKEN" ${url}/api/v1/products`,
    `API docs: ${url}/docs`,
    '',
  ].join('\n');
}

/** Prints the banner to stderr when a developer runs the service with JWT auth and the development secret. */
export async function announceDevelopmentToken(config: Config, secret: string | undefined, url: string): Promise<void> {
  if (config.env === 'development' && secret !== undefined && config.auth.mode === 'jwt')
    process.stderr.write(await developmentBanner(config, secret, url));
}
