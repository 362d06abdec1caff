import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from '@connectrpc/connect';
import { hasScope, insufficientScope, type Authenticator, type Principal, type Scope } from '../http/auth.js';

const PRINCIPAL = createContextKey<Principal | null>(null, { description: 'the authenticated caller' });

/**
 * Bearer JWT in the `authorization` metadata, verified by the same authenticator as REST
 * (JWKS rotation included), and the scope each method needs: reads need :read, the rest
 * :write. Every method of a service under this interceptor is authenticated.
 */
export function authenticate(authenticator: Authenticator, resource: 'products' | 'users'): Interceptor {
  const read: Scope = `${resource}:read`;
  const write: Scope = `${resource}:write`;
  return (next) => async (request) => {
    const principal = await authenticator.authenticate(request.header.get('authorization') ?? undefined);
    const name = request.method.name;
    const scope = name.startsWith('Get') || name.startsWith('List') ? read : write;
    if (!hasScope(principal, scope)) throw insufficientScope(scope);
    request.contextValues.set(PRINCIPAL, principal);
    return next(request);
  };
}

/** The authenticated caller of a call, by its token's subject. */
export function callerOf(context: Pick<HandlerContext, 'values'>): string {
  const principal = context.values.get(PRINCIPAL);
  if (principal === null) throw new ConnectError('served without authentication', Code.Internal);
  return principal.subject;
}
