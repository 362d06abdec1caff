import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Helmet's response headers, computed once. They depend only on the options, yet
 * `@fastify/helmet` rebuilds the middleware (parsing every CSP directive) and runs an async
 * hook per request. Here helmet itself runs once against a recorder, so the headers are
 * exactly helmet's, and a request only copies them.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  // Helmet reports invalid options by throwing at construction; the middleware itself only sets headers.
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
}

/**
 * Swagger UI under /docs is a web page: helmet's defaults, whose policy lets it load its own
 * scripts and styles. Plain-HTTP development would otherwise have its assets "upgraded" to https.
 */
export const DOCS_SECURITY: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
};

/**
 * Everything else answers JSON (or text, for /metrics) to programs: the headers that still
 * mean something for such a response (OWASP's REST Security Cheat Sheet): a policy that
 * allows nothing to load and no framing, no MIME sniffing, HSTS, no referrer, and no
 * cross-origin reads. Helmet's page-only headers are left off (Origin-Agent-Cluster,
 * X-DNS-Prefetch-Control, X-Download-Options, X-Permitted-Cross-Domain-Policies,
 * X-XSS-Protection, Cross-Origin-Opener-Policy), and so is the page policy's length: on a
 * small JSON answer they were most of the bytes, and every header is validated and written.
 */
export const API_SECURITY: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};
