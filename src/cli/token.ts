import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { hmacSecret } from '../dev/development-auth.js';
import { mintToken } from '../dev/tokens.js';
import { SCOPES } from '../http/auth.js';

const USAGE = 'usage: npm run token -- [--scope "products:read users:write"] [--sub name] [--ttl seconds]';

/**
 * `npm run token`: mints an HS256 token with AUTH_JWT_SECRET (or the development secret),
 * honouring AUTH_ISSUER and AUTH_AUDIENCE. Prints the token alone, for `$(npm run -s token)`.
 */
export async function runTokenCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  out: (line: string) => void,
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { scope: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' } },
      strict: true,
    }));
  } catch {
    out(USAGE);
    return 2;
  }
  const scopes = (values.scope ?? SCOPES.join(' ')).split(/[\s,]+/).filter((s) => s.length > 0);
  const ttlSeconds = Number(values.ttl ?? 3600);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    out(USAGE);
    return 2;
  }
  const config = loadConfigOrReport(env, out);
  if (config === null) return 1;
  const secret = await hmacSecret(config);
  if (secret === undefined) {
    out('No HS256 secret: set AUTH_JWT_SECRET (tokens for AUTH_JWKS_URL come from your identity provider).');
    return 1;
  }
  out(
    await mintToken(secret, {
      subject: values.sub ?? 'developer',
      scopes,
      ttlSeconds,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
    }),
  );
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runTokenCommand(process.argv.slice(2), process.env, (line) =>
    process.stdout.write(`${line}\n`),
  );
}
