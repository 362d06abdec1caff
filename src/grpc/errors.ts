import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { DomainError, UnavailableError, type DomainErrorCode } from '../domain/errors.js';
import { AccessDenied } from '../http/auth.js';
import { RequestValidationError, type FieldIssue } from '../http/validation.js';
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from './gen/google/rpc/error_details_pb.js';

const DOMAIN = 'product-user-service';

/**
 * The one table from domain error codes to gRPC status codes, beside the HTTP one in
 * http/error-handler.ts. A stale etag is ABORTED (AIP-154), as is a create whose request_id
 * another call is still using: both say "read again, then retry".
 */
const DOMAIN_CODES: Readonly<Record<DomainErrorCode, Code>> = {
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  request_in_progress: Code.Aborted,
  version_mismatch: Code.Aborted,
  idempotency_key_reused: Code.InvalidArgument,
  unavailable: Code.Unavailable,
};

type Detail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];

function errorInfo(reason: string): Detail {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: DOMAIN }) };
}

function retryInfo(seconds: number): Detail {
  return { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: { seconds: BigInt(seconds) } }) };
}

/** INVALID_ARGUMENT naming every failing field (google.rpc.BadRequest). */
export function invalidArgument(issues: readonly { field: string; description: string }[]): ConnectError {
  const detail = create(BadRequestSchema, {
    fieldViolations: issues.map(({ field, description }) => ({ field, description })),
  });
  const message = issues.length === 1 ? '1 field is invalid' : `${issues.length} fields are invalid`;
  return new ConnectError(message, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: detail },
    errorInfo('VALIDATION'),
  ]);
}

/** Field issues of the shared request rules, at the proto field each REST field maps to. */
export function violations(issues: readonly FieldIssue[], fieldFor: (restPath: string) => string) {
  return issues.map((issue) => ({ field: fieldFor(issue.path.join('.')), description: issue.message }));
}

/** Runs a check of the shared request rules, its failures as INVALID_ARGUMENT at proto names. */
export function checked<T>(work: () => T, fieldFor: (restPath: string) => string): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof RequestValidationError) throw invalidArgument(violations(err.issues, fieldFor));
    throw err;
  }
}

/** Any failure as the status a gRPC or Connect client receives; unknown ones masked as INTERNAL. */
export function toConnectError(err: unknown, log: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    const details = [errorInfo(err.code.toUpperCase())];
    if (err instanceof UnavailableError) details.push(retryInfo(err.retryAfterSeconds));
    return new ConnectError(err.message, DOMAIN_CODES[err.code], undefined, details);
  }
  if (err instanceof AccessDenied) {
    return new ConnectError(
      err.message,
      err.reason === 'insufficient_scope' ? Code.PermissionDenied : Code.Unauthenticated,
      undefined,
      [errorInfo(err.reason.toUpperCase())],
    );
  }
  log(err);
  return new ConnectError('An unexpected error occurred', Code.Internal);
}
