import type { FastifyRequest } from 'fastify';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { rememberBounded } from './bounded-memory.js';

export const SCOPES = ['products:read', 'products:write', 'users:read', 'users:write', 'events:read'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling, as proven by a verified token (or the fixed caller of AUTH_MODE=none). */
export interface Principal {
  readonly subject: string;
  readonly scopes: ReadonlySet<string>;
}

export interface AuthSettings {
  readonly mode: 'jwt' | 'none';
  /** HS256 shared secret. */
  readonly secret?: string | undefined;
  /** RS256/ES256 keys, fetched and cached; an unknown `kid` triggers a re-fetch (key rotation). */
  readonly jwksUrl?: string | undefined;
  readonly jwksCooldownMs?: number | undefined;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
}

const NONE_PRINCIPAL: Principal = { subject: 'anonymous', scopes: new Set(SCOPES) };
const ASYMMETRIC = ['RS256', 'ES256'];
/**
 * Verified tokens are remembered, because verification is most of a read's CPU: until they
 * expire, but never longer than a minute, so a key withdrawn from the JWKS (a compromised
 * key) stops being honoured within a minute rather than at the tokens' expiry.
 */
const CACHE_LIMIT = 10_000;
const CACHE_TTL_MS = 60_000;

/**
 * A caller refused, in RFC 6750's terms: no valid token (`invalid_token`), or a valid one
 * without the scope the operation needs (`insufficient_scope`). Not a status of any protocol:
 * each transport's one error table says it its own way (401 or 403 with WWW-Authenticate;
 * UNAUTHENTICATED or PERMISSION_DENIED).
 */
export class AccessDenied extends Error {
  readonly reason: 'invalid_token' | 'insufficient_scope';
  /** The scope that was missing (insufficient_scope only). */
  readonly scope: Scope | undefined;
  constructor(reason: 'invalid_token' | 'insufficient_scope', message: string, scope?: Scope) {
    super(message);
    this.name = 'AccessDenied';
    this.reason = reason;
    this.scope = scope;
  }
}

function invalidToken(description: string): AccessDenied {
  return new AccessDenied('invalid_token', description);
}

/** `scope` (space-separated string) or `scp` (array), as issued by common identity providers. */
function scopesOf(payload: JWTPayload): Set<string> {
  const raw =
    typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp : [];
  return new Set(raw.filter((s): s is string => typeof s === 'string' && s.length > 0));
}

/** A `:write` scope implies `:read` on the same resource. */
export function hasScope(principal: Principal, required: Scope): boolean {
  return (
    principal.scopes.has(required) ||
    (required.endsWith(':read') && principal.scopes.has(required.replace(/:read$/, ':write')))
  );
}

export class Authenticator {
  readonly #settings: AuthSettings;
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  /** By the whole Authorization header, so that a recall needs no parsing of it. */
  readonly #cache = new Map<string, { principal: Principal; expiresAt: number }>();

  constructor(settings: AuthSettings) {
    this.#settings = settings;
    this.#secret = settings.secret === undefined ? undefined : new TextEncoder().encode(settings.secret);
    this.#jwks =
      settings.jwksUrl === undefined
        ? undefined
        : createRemoteJWKSet(new URL(settings.jwksUrl), {
            cooldownDuration: settings.jwksCooldownMs ?? 30_000,
            cacheMaxAge: 600_000,
            timeoutDuration: 2000,
          });
  }

  /**
   * The caller behind an Authorization header when that is known without waiting: AUTH_MODE
   * none, or a token verified before and still remembered. Lets the hot path stay synchronous.
   */
  recall(authorization: string | undefined): Principal | undefined {
    if (this.#settings.mode === 'none') return NONE_PRINCIPAL;
    const cached = authorization === undefined ? undefined : this.#cache.get(authorization);
    return cached !== undefined && cached.expiresAt > Date.now() ? cached.principal : undefined;
  }

  /** The caller behind an Authorization header; throws AccessDenied (invalid_token) otherwise. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const recalled = this.recall(authorization);
    if (recalled !== undefined) return recalled;
    const token = bearerToken(authorization);
    if (token === undefined) throw invalidToken('A bearer token is required');
    const payload = await this.#verify(token);
    // The subject is who the caller is (RFC 9068 §2.2): rate limits and idempotency keys are
    // kept per subject, so a token without one would share them with every other such token.
    if (typeof payload.sub !== 'string' || payload.sub.trim().length === 0) {
      throw invalidToken('The token names no subject (sub)');
    }
    const principal: Principal = { subject: payload.sub, scopes: scopesOf(payload) };
    if (payload.exp !== undefined && authorization !== undefined)
      rememberBounded(
        this.#cache,
        authorization,
        { principal, expiresAt: Math.min(payload.exp * 1000, Date.now() + CACHE_TTL_MS) },
        CACHE_LIMIT,
      );
    return principal;
  }

  async #verify(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw invalidToken('The token is malformed');
    }
    const options = { issuer: this.#settings.issuer, audience: this.#settings.audience, requiredClaims: ['exp'] };
    try {
      // The key is chosen by algorithm family, so an HS256 token can never be checked against
      // a public key (algorithm confusion) and `none` matches nothing.
      if (alg === 'HS256' && this.#secret !== undefined)
        return (await jwtVerify(token, this.#secret, { ...options, algorithms: ['HS256'] })).payload;
      if (alg !== undefined && ASYMMETRIC.includes(alg) && this.#jwks !== undefined)
        return (await jwtVerify(token, this.#jwks, { ...options, algorithms: ASYMMETRIC })).payload;
    } catch (err) {
      throw invalidToken(describeFailure(err));
    }
    throw invalidToken(`Tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
  }
}

function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer +([A-Za-z0-9._~+/=-]+)$/i.exec(authorization ?? '')?.[1];
}

function describeFailure(err: unknown): string {
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'The token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'The token is not valid here (not yet valid, wrong issuer or audience, or missing exp)';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'The token was signed with an unknown key';
    case 'ERR_JWKS_TIMEOUT':
      return 'The signing keys could not be fetched in time';
    default:
      return 'The token signature or format is invalid';
  }
}

export function insufficientScope(required: Scope): AccessDenied {
  return new AccessDenied('insufficient_scope', `This operation needs the ${required} scope`, required);
}

/** The authenticated caller of a route under /api/v1, by its token's subject. */
export function caller(request: FastifyRequest): string {
  if (request.principal === null) throw new Error(`${request.url} was served without authentication`);
  return request.principal.subject;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route under /api/v1 requires (api-guard.ts). */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** Set by the authentication hook on /api/v1 routes (api-guard.ts). */
    principal: Principal | null;
  }
}
