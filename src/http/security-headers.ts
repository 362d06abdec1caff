import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Helmet's response headers, computed once. They depend only on the options, yet
 * `@fastify/helmet` rebuilt the middleware (parsing every CSP directive) and an async hook
 * per request: ~5 % of a simple GET's CPU in the profile. Here helmet itself runs once
 * against a recorder, so the headers are exactly helmet's, and a request only copies them.
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
