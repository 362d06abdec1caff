import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, UnavailableError, type DomainErrorCode } from '../domain/errors.js';
import { AccessDenied } from './auth.js';
import type { Problem } from './schemas.js';
import { RequestValidationError, type FieldIssue } from './validation.js';

const PROBLEM_BASE = 'https://problems.example.dev/';
const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
/** A problem lists at most this many invalid fields, and counts them all in `error_count`. */
export const MAX_FIELD_ERRORS = 100;

/** An HTTP-level failure (401, 403, 415, 428, 429 …) raised by hooks, not by the domain. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, type: string, title: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.name = 'HttpProblem';
    this.status = status;
    this.type = type;
    this.title = title;
    this.headers = headers;
  }
}

/** The one table from domain error codes to HTTP. */
const DOMAIN_PROBLEMS: Readonly<Record<DomainErrorCode, { status: number; type: string; title: string }>> = {
  not_found: { status: 404, type: 'not-found', title: 'Resource not found' },
  already_exists: { status: 409, type: 'conflict', title: 'Conflict with the current state of the resource' },
  request_in_progress: { status: 409, type: 'conflict', title: 'Conflict with the current state of the resource' },
  version_mismatch: { status: 412, type: 'precondition-failed', title: 'Precondition failed' },
  idempotency_key_reused: {
    status: 422,
    type: 'idempotency-key-reused',
    title: 'Idempotency-Key reused with a different request',
  },
  unavailable: { status: 503, type: 'service-unavailable', title: 'Service temporarily unavailable' },
};

/** Fastify's own request errors, reworded so that no framework name or internals leak. */
const FRAMEWORK_PROBLEMS: Readonly<Record<string, (limit: number) => HttpProblem>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new HttpProblem(
      415,
      'unsupported-media-type',
      'Unsupported media type',
      'Send the body as application/json (PATCH also accepts application/merge-patch+json)',
    ),
  FST_ERR_CTP_BODY_TOO_LARGE: (limit) =>
    new HttpProblem(413, 'payload-too-large', 'Payload too large', `The body exceeds the limit of ${limit} bytes`),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new HttpProblem(400, 'malformed-body', 'Malformed request body', 'The body is empty, but Content-Type says JSON'),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    new HttpProblem(
      400,
      'malformed-body',
      'Malformed request body',
      'The body is not valid JSON, or it contains a forbidden __proto__ or constructor.prototype key',
    ),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new HttpProblem(400, 'malformed-body', 'Malformed request body', 'Content-Length does not match the body'),
};

const CONTEXT_PREFIX: Readonly<Record<string, string>> = { querystring: 'query.', params: 'path.', headers: 'header.' };

/** JSON Pointer (RFC 6901) into the body; `query.limit` style for the other parts. */
function fieldPath(context: string | undefined, path: readonly (string | number)[]): string {
  const prefix = context === undefined ? undefined : CONTEXT_PREFIX[context];
  if (prefix !== undefined) return `${prefix}${path.join('.')}`;
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The invalid fields of a 400: the first MAX_FIELD_ERRORS, and how many there were. */
interface FieldErrors {
  readonly errors: NonNullable<Problem['errors']>;
  readonly count: number;
}

function validationProblem(error: RequestValidationError): { problem: HttpProblem; fields: FieldErrors } {
  const errors = error.issues.slice(0, MAX_FIELD_ERRORS).map((issue: FieldIssue) => ({
    path: fieldPath(error.validationContext, issue.path),
    message: issue.message,
  }));
  const count = error.issues.length;
  const detail = count === 1 ? '1 field is invalid' : `${count} fields are invalid`;
  const problem = new HttpProblem(400, 'validation-error', 'Request validation failed', detail);
  return { problem, fields: { errors, count } };
}

/** A refused caller as RFC 6750 has it: 401 or 403, with the reason in WWW-Authenticate. */
function accessProblem(error: AccessDenied): HttpProblem {
  if (error.reason === 'insufficient_scope') {
    return new HttpProblem(403, 'forbidden', 'Insufficient scope', error.message, {
      'www-authenticate': `Bearer error="insufficient_scope", scope="${error.scope ?? ''}"`,
    });
  }
  return new HttpProblem(401, 'unauthenticated', 'Authentication required', error.message, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${error.message}"`,
  });
}

function toHttpProblem(error: FastifyError | Error, bodyLimit: number): HttpProblem | null {
  if (error instanceof HttpProblem) return error;
  if (error instanceof AccessDenied) return accessProblem(error);
  if (error instanceof DomainError) {
    const entry = DOMAIN_PROBLEMS[error.code];
    const headers: Record<string, string> =
      error instanceof UnavailableError ? { 'retry-after': String(error.retryAfterSeconds) } : {};
    return new HttpProblem(entry.status, entry.type, entry.title, error.message, headers);
  }
  const code = (error as FastifyError).code;
  const framework = code === undefined ? undefined : FRAMEWORK_PROBLEMS[code];
  if (framework !== undefined) return framework(bodyLimit);
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const title = STATUS_CODES[status] ?? 'Bad request';
    return new HttpProblem(status, 'bad-request', title, `The request cannot be served: ${title.toLowerCase()}`);
  }
  return null;
}

/** `instance` is left out where the path itself is what was wrong, so that no input is echoed. */
function problemBody(problem: HttpProblem, requestId: string, instance?: string, fields?: FieldErrors): Problem {
  return {
    type: `${PROBLEM_BASE}${problem.type}`,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    ...(instance !== undefined && { instance }),
    request_id: requestId,
    ...(fields !== undefined && { errors: fields.errors, error_count: fields.count }),
  };
}

function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: HttpProblem, fields?: FieldErrors) {
  const body = problemBody(problem, request.id, request.url.split('?')[0] ?? request.url, fields);
  return reply.code(problem.status).headers(problem.headers).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** The one error handler: every failure leaves as RFC 9457 problem+json, 5xx masked. */
export function createErrorHandler(bodyLimit: number) {
  return function errorHandler(
    error: FastifyError | Error,
    request: FastifyRequest,
    reply: FastifyReply,
  ): FastifyReply {
    if (error instanceof RequestValidationError) {
      const { problem, fields } = validationProblem(error);
      return sendProblem(request, reply, problem, fields);
    }
    const problem = toHttpProblem(error, bodyLimit);
    if (problem !== null) {
      if (problem.status >= 500) request.log.warn({ err: error }, 'dependency unavailable');
      return sendProblem(request, reply, problem);
    }
    request.log.error({ err: error }, 'unhandled error');
    const masked = new HttpProblem(
      500,
      'internal-error',
      'Internal server error',
      `An unexpected error occurred; quote request id ${request.id} when reporting it`,
    );
    return sendProblem(request, reply, masked);
  };
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(
    request,
    reply,
    new HttpProblem(404, 'not-found', 'Not found', 'No route matches this method and path'),
  );
}

/**
 * Errors Fastify raises before routing (its `frameworkErrors` option): a path that is not
 * valid percent-encoded UTF-8, or a path segment longer than any id. No hook has run, so the
 * headers every response carries are set here.
 */
export function createFrameworkErrorHandler(headers: Readonly<Record<string, string>>) {
  return function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    reply.headers(headers).header('x-request-id', request.id);
    const problem =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new HttpProblem(414, 'uri-too-long', 'URI too long', 'A path segment is longer than any resource id')
        : error.code === 'FST_ERR_BAD_URL'
          ? new HttpProblem(400, 'malformed-path', 'Malformed path', 'The path is not valid percent-encoded UTF-8')
          : null;
    if (problem === null) {
      request.log.error({ err: error }, 'unhandled framework error');
      const masked = new HttpProblem(500, 'internal-error', 'Internal server error', 'An unexpected error occurred');
      void reply.code(500).type(PROBLEM_CONTENT_TYPE).send(problemBody(masked, request.id));
      return;
    }
    void reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problemBody(problem, request.id));
  };
}

/** Node's HTTP parser codes that have a status of their own; every other parse failure is 400. */
const CLIENT_ERRORS: Readonly<Record<string, HttpProblem>> = {
  ERR_HTTP_REQUEST_TIMEOUT: new HttpProblem(
    408,
    'request-timeout',
    'Request timeout',
    'The request was not received in time',
  ),
  HPE_HEADER_OVERFLOW: new HttpProblem(
    431,
    'header-fields-too-large',
    'Request header fields too large',
    'The request line and headers exceed the size limit',
  ),
};
const MALFORMED_REQUEST = new HttpProblem(
  400,
  'malformed-request',
  'Malformed request',
  'The request is not valid HTTP/1.1',
);

/**
 * Node's `clientError`: a request the HTTP parser refused, or one that timed out, before
 * Fastify saw it. The answer is written on the socket as a problem document, then the
 * connection closes; nothing is written once a response has started on it.
 */
export function createClientErrorHandler(headers: Readonly<Record<string, string>>, log: FastifyBaseLogger) {
  const fixed = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
    // ECONNRESET: the client is gone, there is no one to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || response?.headersSent === true) {
      socket.destroy(error);
      return;
    }
    const problem = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED_REQUEST;
    const requestId = randomUUID();
    log.info({ request_id: requestId, status: problem.status, code: error.code }, 'request refused by the HTTP parser');
    const body = JSON.stringify(problemBody(problem, requestId));
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
        `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\n${fixed}connection: close\r\n\r\n${body}`,
    );
  };
}
