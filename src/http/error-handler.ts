import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, UnavailableError, type DomainErrorCode } from '../domain/errors.js';
import type { Problem } from './schemas.js';
import { RequestValidationError, type FieldIssue } from './validation.js';

const PROBLEM_BASE = 'https://problems.example.dev/';
const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

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

function validationProblem(error: RequestValidationError): {
  problem: HttpProblem;
  errors: { path: string; message: string }[];
} {
  const errors = error.issues.map((issue: FieldIssue) => ({
    path: fieldPath(error.validationContext, issue.path),
    message: issue.message,
  }));
  const detail = errors.length === 1 ? '1 field is invalid' : `${errors.length} fields are invalid`;
  return { problem: new HttpProblem(400, 'validation-error', 'Request validation failed', detail), errors };
}

function toHttpProblem(error: FastifyError | Error, bodyLimit: number): HttpProblem | null {
  if (error instanceof HttpProblem) return error;
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

function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  problem: HttpProblem,
  errors?: Problem['errors'],
): FastifyReply {
  const body: Problem = {
    type: `${PROBLEM_BASE}${problem.type}`,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    instance: request.url.split('?')[0] ?? request.url,
    request_id: request.id,
    ...(errors !== undefined && { errors }),
  };
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
      const { problem, errors } = validationProblem(error);
      return sendProblem(request, reply, problem, errors);
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
    new HttpProblem(
      404,
      'not-found',
      'Not found',
      `No route matches ${request.method} ${request.url.split('?')[0] ?? ''}`,
    ),
  );
}
