import { SignJWT } from 'jose';

export interface TokenClaims {
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly ttlSeconds: number;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
}

/** Mints an HS256 token: the development banner, `npm run token`, the tests and the bench use it. */
export function mintToken(secret: string, claims: TokenClaims): Promise<string> {
  let jwt = new SignJWT({ scope: claims.scopes.join(' ') })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.subject)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`);
  if (claims.issuer !== undefined) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience !== undefined) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
